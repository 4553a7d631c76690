// GET /admin/instances/{id}/data — any instance with its owner, newest events and gateway report, polled by the
// admin instance page (session + admin role; 401 anonymous, 403 non-admin, 404 unknown id).
import { withAdmin } from "@/lib/http/handlers";
import { instanceIdParam } from "@/lib/http/request";
import { readAdminInstanceDetail } from "@/lib/admin/read";

export const dynamic = "force-dynamic";

export const GET = withAdmin(async ({ params }) =>
  Response.json(await readAdminInstanceDetail(instanceIdParam(params)), { headers: { "cache-control": "no-store" } }),
);

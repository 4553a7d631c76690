// GET /instances/data — the signed-in user's instances as DTOs, polled by the dashboard (session auth).
import { withUser } from "@/lib/http/handlers";
import { readInstanceList } from "@/lib/instances/read";

export const dynamic = "force-dynamic";

export const GET = withUser(async ({ user }) =>
  Response.json(await readInstanceList(user.id), { headers: { "cache-control": "no-store" } }),
);

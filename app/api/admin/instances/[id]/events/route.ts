// GET /api/admin/instances/{id}/events — admins read an instance's audit log, newest first; session + admin role.
import { getDb } from "@/db";
import { listInstanceEventsForAdmin } from "@/lib/admin/fleet-events";
import { instanceEventsQuerySchema } from "@/lib/admin/schemas";
import { methodNotAllowed, withAdmin } from "@/lib/http/handlers";
import { instanceIdParam, readQuery } from "@/lib/http/request";
import { jsonResponse } from "@/lib/http/responses";

export const dynamic = "force-dynamic";

export const GET = withAdmin(async ({ request, params }) => {
  const instanceId = instanceIdParam(params);
  const { limit } = readQuery(request, instanceEventsQuerySchema);
  return jsonResponse({ events: await listInstanceEventsForAdmin(await getDb(), instanceId, { limit }) });
});

export const { POST, PUT, PATCH, DELETE } = methodNotAllowed("GET");

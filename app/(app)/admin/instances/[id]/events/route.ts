// GET /admin/instances/{id}/events?before=<event id> — older timeline events of any instance for the admin instance
// page, with the accounts that acted (session + admin role; 404 unknown id).
import { getDb } from "@/db";
import { getFleetInstanceRecordOrThrow, listInstanceTimeline, timelineQuerySchema } from "@/lib/admin/instance-detail";
import { withAdmin } from "@/lib/http/handlers";
import { instanceIdParam, readQuery } from "@/lib/http/request";

export const dynamic = "force-dynamic";

export const GET = withAdmin(async ({ request, params }) => {
  const instanceId = instanceIdParam(params);
  const { limit, before } = readQuery(request, timelineQuerySchema);
  const db = await getDb();
  await getFleetInstanceRecordOrThrow(db, instanceId);
  return Response.json(await listInstanceTimeline(db, instanceId, { limit, before }), { headers: { "cache-control": "no-store" } });
});

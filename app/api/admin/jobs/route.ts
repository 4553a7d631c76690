// GET /api/admin/jobs — admins list fleet jobs, newest first; POST starts one (redeploy, start, stop or revoke keys over a selection or the fleet filters). Session + admin role.
import { getDb } from "@/db";
import { invalidateFleetOverview } from "@/lib/admin/overview-cache";
import { createFleetJob, listFleetJobs } from "@/lib/fleet-jobs/jobs";
import { kickFleetJobs } from "@/lib/fleet-jobs/runner";
import { createFleetJobBodySchema, listFleetJobsQuerySchema } from "@/lib/fleet-jobs/schemas";
import { readJsonBody } from "@/lib/http/body";
import { methodNotAllowed, withAdmin } from "@/lib/http/handlers";
import { readQuery } from "@/lib/http/request";
import { jsonResponse } from "@/lib/http/responses";

export const dynamic = "force-dynamic";

export const GET = withAdmin(async ({ request }) => {
  const query = readQuery(request, listFleetJobsQuerySchema, { lists: ["state"] });
  return jsonResponse(await listFleetJobs(await getDb(), query));
});

export const POST = withAdmin(async ({ request, user }) => {
  const body = await readJsonBody(request, createFleetJobBodySchema);
  const db = await getDb();
  const job = await createFleetJob(db, body, user, new Date());
  void kickFleetJobs().finally(() => invalidateFleetOverview(db));
  return jsonResponse(job, { status: 201 });
});

export const { PUT, PATCH, DELETE } = methodNotAllowed("GET", "POST");

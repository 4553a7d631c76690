// POST /api/admin/jobs/{id}/resume — admins resume a fleet job; session + admin role.
import { getDb } from "@/db";
import { resumeFleetJob } from "@/lib/fleet-jobs/jobs";
import { fleetJobIdParam } from "@/lib/fleet-jobs/http";
import { kickFleetJobs } from "@/lib/fleet-jobs/runner";
import { readJsonBody } from "@/lib/http/body";
import { methodNotAllowed, withAdmin } from "@/lib/http/handlers";
import { emptyBodySchema } from "@/lib/http/request";
import { jsonResponse } from "@/lib/http/responses";

export const dynamic = "force-dynamic";

export const POST = withAdmin(async ({ request, params }) => {
  const jobId = fleetJobIdParam(params);
  await readJsonBody(request, emptyBodySchema);
  const job = await resumeFleetJob(await getDb(), jobId);
  void kickFleetJobs();
  return jsonResponse(job);
});

export const { GET, PUT, PATCH, DELETE } = methodNotAllowed("POST");

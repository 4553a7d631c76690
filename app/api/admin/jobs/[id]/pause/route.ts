// POST /api/admin/jobs/{id}/pause — admins pause a fleet job; session + admin role.
import { getDb } from "@/db";
import { pauseFleetJob } from "@/lib/fleet-jobs/jobs";
import { fleetJobIdParam } from "@/lib/fleet-jobs/http";

import { readJsonBody } from "@/lib/http/body";
import { methodNotAllowed, withAdmin } from "@/lib/http/handlers";
import { emptyBodySchema } from "@/lib/http/request";
import { jsonResponse } from "@/lib/http/responses";

export const dynamic = "force-dynamic";

export const POST = withAdmin(async ({ request, params }) => {
  const jobId = fleetJobIdParam(params);
  await readJsonBody(request, emptyBodySchema);
  const job = await pauseFleetJob(await getDb(), jobId);

  return jsonResponse(job);
});

export const { GET, PUT, PATCH, DELETE } = methodNotAllowed("POST");

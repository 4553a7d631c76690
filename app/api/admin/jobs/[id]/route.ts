// GET /api/admin/jobs/{id} — admins read a fleet job with its counts and one page of its items; session + admin role.
import { getDb } from "@/db";
import { getFleetJobOrThrow } from "@/lib/fleet-jobs/jobs";
import { fleetJobIdParam } from "@/lib/fleet-jobs/http";
import { fleetJobItemsQuerySchema } from "@/lib/fleet-jobs/schemas";
import { methodNotAllowed, withAdmin } from "@/lib/http/handlers";
import { readQuery } from "@/lib/http/request";
import { jsonResponse } from "@/lib/http/responses";

export const dynamic = "force-dynamic";

export const GET = withAdmin(async ({ request, params }) => {
  const jobId = fleetJobIdParam(params);
  const query = readQuery(request, fleetJobItemsQuerySchema, { lists: ["state"] });
  return jsonResponse(await getFleetJobOrThrow(await getDb(), jobId, query));
});

export const { POST, PUT, PATCH, DELETE } = methodNotAllowed("GET");

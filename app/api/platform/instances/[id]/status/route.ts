// GET /api/platform/instances/{id}/status — internal services read any instance's lifecycle status (no key fields); Bearer INTERNAL_API_SECRET.
import { getInstanceStatus, getLifecycleDeps } from "@/lib/instances";
import { methodNotAllowed, withInternalAuth } from "@/lib/http/handlers";
import { instanceIdParam } from "@/lib/http/request";
import { jsonResponse } from "@/lib/http/responses";

export const dynamic = "force-dynamic";

export const GET = withInternalAuth(async ({ params }) => {
  const instanceId = instanceIdParam(params);
  return jsonResponse(await getInstanceStatus({ instanceId }, await getLifecycleDeps()));
});

export const { POST, PUT, PATCH, DELETE } = methodNotAllowed("GET");

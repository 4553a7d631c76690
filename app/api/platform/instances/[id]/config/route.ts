// GET /api/platform/instances/{id}/config — internal services read any instance's key metadata and health (never the key); Bearer INTERNAL_API_SECRET.
import { getInstanceConfig, getLifecycleDeps } from "@/lib/instances";
import { methodNotAllowed, withInternalAuth } from "@/lib/http/handlers";
import { instanceIdParam } from "@/lib/http/request";
import { jsonResponse } from "@/lib/http/responses";

export const dynamic = "force-dynamic";

export const GET = withInternalAuth(async ({ params }) => {
  const instanceId = instanceIdParam(params);
  return jsonResponse(await getInstanceConfig({ instanceId }, await getLifecycleDeps()));
});

export const { POST, PUT, PATCH, DELETE } = methodNotAllowed("GET");

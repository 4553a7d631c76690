// GET /api/instances/{id}/config — the signed-in owner reads the instance's key metadata and health (never the key); next-auth session, anyone else's instance is 404.
import { getInstanceConfig, getLifecycleDeps } from "@/lib/instances";
import { methodNotAllowed, withUser } from "@/lib/http/handlers";
import { instanceIdParam } from "@/lib/http/request";
import { jsonResponse } from "@/lib/http/responses";

export const dynamic = "force-dynamic";

export const GET = withUser(async ({ user, params }) => {
  const instanceId = instanceIdParam(params);
  return jsonResponse(await getInstanceConfig({ instanceId, ownerId: user.id }, await getLifecycleDeps()));
});

export const { POST, PUT, PATCH, DELETE } = methodNotAllowed("GET");

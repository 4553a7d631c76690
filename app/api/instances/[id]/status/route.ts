// GET /api/instances/{id}/status — the signed-in owner reads the instance's lifecycle status (no key fields); next-auth session, anyone else's instance is 404.
import { getInstanceStatus, getLifecycleDeps } from "@/lib/instances";
import { methodNotAllowed, withUser } from "@/lib/http/handlers";
import { instanceIdParam } from "@/lib/http/request";
import { jsonResponse } from "@/lib/http/responses";

export const dynamic = "force-dynamic";

export const GET = withUser(async ({ user, params }) => {
  const instanceId = instanceIdParam(params);
  return jsonResponse(await getInstanceStatus({ instanceId, ownerId: user.id }, await getLifecycleDeps()));
});

export const { POST, PUT, PATCH, DELETE } = methodNotAllowed("GET");

// DELETE /api/platform/instances/{id} — internal services destroy an instance and its machine; Bearer INTERNAL_API_SECRET.
import { destroyInstance, getLifecycleDeps } from "@/lib/instances";
import { toInstanceStatusDto } from "@/lib/instances/dto";
import { methodNotAllowed, withInternalAuth } from "@/lib/http/handlers";
import { instanceIdParam } from "@/lib/http/request";
import { jsonResponse } from "@/lib/http/responses";

export const dynamic = "force-dynamic";

export const DELETE = withInternalAuth(async ({ params }) => {
  const instanceId = instanceIdParam(params);
  const row = await destroyInstance({ instanceId, actor: { type: "internal", id: "platform-api" } }, await getLifecycleDeps());
  return jsonResponse(toInstanceStatusDto(row));
});

export const { GET, POST, PUT, PATCH } = methodNotAllowed("DELETE");

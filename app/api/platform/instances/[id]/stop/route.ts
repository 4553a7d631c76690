// POST /api/platform/instances/{id}/stop — internal services: stops the instance; Bearer INTERNAL_API_SECRET.
import { getLifecycleDeps, stopInstance } from "@/lib/instances";
import { readJsonBody } from "@/lib/http/body";
import { methodNotAllowed, withInternalAuth } from "@/lib/http/handlers";
import { presentInstance } from "@/lib/instances/present";
import { emptyBodySchema, instanceIdParam } from "@/lib/http/request";
import { jsonResponse } from "@/lib/http/responses";

export const dynamic = "force-dynamic";

export const POST = withInternalAuth(async ({ request, params }) => {
  const instanceId = instanceIdParam(params);
  await readJsonBody(request, emptyBodySchema);
  const deps = await getLifecycleDeps();
  const row = await stopInstance({ instanceId, actor: { type: "internal", id: "platform-api" } }, deps);
  return jsonResponse(await presentInstance(row, deps));
});

export const { GET, PUT, PATCH, DELETE } = methodNotAllowed("POST");

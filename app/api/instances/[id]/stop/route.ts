// POST /api/instances/{id}/stop — the signed-in owner stops the instance; next-auth session, anyone else's instance is 404.
import { getLifecycleDeps, stopInstance } from "@/lib/instances";
import { readJsonBody } from "@/lib/http/body";
import { methodNotAllowed, withUser } from "@/lib/http/handlers";
import { presentInstance } from "@/lib/instances/present";
import { emptyBodySchema, instanceIdParam } from "@/lib/http/request";
import { jsonResponse } from "@/lib/http/responses";

export const dynamic = "force-dynamic";

export const POST = withUser(async ({ request, user, params }) => {
  const instanceId = instanceIdParam(params);
  await readJsonBody(request, emptyBodySchema);
  const deps = await getLifecycleDeps();
  const row = await stopInstance({ instanceId, ownerId: user.id, actor: { type: "user", id: user.id } }, deps);
  return jsonResponse(await presentInstance(row, deps));
});

export const { GET, PUT, PATCH, DELETE } = methodNotAllowed("POST");

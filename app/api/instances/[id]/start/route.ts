// POST /api/instances/{id}/start — the signed-in owner starts the instance with a freshly minted key (no-op when running); next-auth session, anyone else's instance is 404 (503 misconfigured first when NEXTAUTH_SECRET is unset).
import { getLifecycleDeps, startInstance } from "@/lib/instances";
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
  const row = await startInstance({ instanceId, ownerId: user.id, actor: { type: "user", id: user.id } }, deps);
  return jsonResponse(await presentInstance(row, deps));
}, { mints: true });

export const { GET, PUT, PATCH, DELETE } = methodNotAllowed("POST");

// POST /api/platform/instances/{id}/start — internal services: starts the instance with a freshly minted key (no-op when running); Bearer INTERNAL_API_SECRET (503 misconfigured first when NEXTAUTH_SECRET is unset).
import { getLifecycleDeps, startInstance } from "@/lib/instances";
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
  const row = await startInstance({ instanceId, actor: { type: "internal", id: "platform-api" } }, deps);
  return jsonResponse(await presentInstance(row, deps));
}, { mints: true });

export const { GET, PUT, PATCH, DELETE } = methodNotAllowed("POST");

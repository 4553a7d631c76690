// POST /api/admin/instances/{id}/redeploy — admins redeploy any user's instance with a fresh key; session + admin role (503 misconfigured first without NEXTAUTH_SECRET).
import { invalidateFleetOverview } from "@/lib/admin/overview-cache";
import { getLifecycleDeps, redeployInstance } from "@/lib/instances";
import { readJsonBody } from "@/lib/http/body";
import { methodNotAllowed, withAdmin } from "@/lib/http/handlers";
import { presentInstance } from "@/lib/instances/present";
import { emptyBodySchema, instanceIdParam } from "@/lib/http/request";
import { jsonResponse } from "@/lib/http/responses";

export const dynamic = "force-dynamic";

export const POST = withAdmin(async ({ request, user, params }) => {
  const instanceId = instanceIdParam(params);
  await readJsonBody(request, emptyBodySchema);
  const deps = await getLifecycleDeps();
  const row = await redeployInstance({ instanceId, actor: { type: "admin", id: user.id } }, deps).finally(() => invalidateFleetOverview(deps.db));
  return jsonResponse(await presentInstance(row, deps));
}, { mints: true });

export const { GET, PUT, PATCH, DELETE } = methodNotAllowed("POST");

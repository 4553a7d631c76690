// POST /api/admin/users/{id}/rotate-pepper — admins revoke every API key of a user; their running instances are re-keyed live. Session + admin role.
import { invalidateFleetOverview } from "@/lib/admin/overview-cache";
import { getDb } from "@/db";
import { readJsonBody } from "@/lib/http/body";
import { methodNotAllowed, withAdmin } from "@/lib/http/handlers";
import { emptyBodySchema, userIdParam } from "@/lib/http/request";
import { jsonResponse } from "@/lib/http/responses";
import { revokeKeysAndRekey } from "@/lib/scheduler/rekey";

export const dynamic = "force-dynamic";

export const POST = withAdmin(async ({ request, user, params }) => {
  const userId = userIdParam(params);
  await readJsonBody(request, emptyBodySchema);
  const result = await revokeKeysAndRekey({ userId, actor: { type: "admin", id: user.id } });
  invalidateFleetOverview(await getDb());
  return jsonResponse({
    rotatedAt: result.rotatedAt.toISOString(),
    revokedKeyCount: result.revokedKeyCount,
    runningInstanceCount: result.runningInstanceCount,
  });
});

export const { GET, PUT, PATCH, DELETE } = methodNotAllowed("POST");

// POST /api/account/rotate-pepper — the signed-in user revokes every API key minted so far; running instances are re-keyed live.
import { readJsonBody } from "@/lib/http/body";
import { withUser } from "@/lib/http/handlers";
import { emptyBodySchema } from "@/lib/http/request";
import { revokeKeysAndRekey } from "@/lib/scheduler/rekey";

export const dynamic = "force-dynamic";

export const POST = withUser(async ({ request, user }) => {
  await readJsonBody(request, emptyBodySchema);
  const result = await revokeKeysAndRekey({ userId: user.id, actor: { type: "user", id: user.id } });
  return Response.json(
    { rotatedAt: result.rotatedAt.toISOString(), revokedKeyCount: result.revokedKeyCount, runningInstanceCount: result.runningInstanceCount },
    { headers: { "cache-control": "no-store" } },
  );
});

// GET /api/gateway/whoami — instances prove who they are; authorised by their API key (Bearer).
import { AppError } from "@/lib/errors";
import { getEnv } from "@/shared/env";
import { bearerToken, requireKeyRing, withErrorHandling } from "@/lib/http/handlers";
import { authenticateInstanceKey } from "@/lib/keys/authenticate";
import { getKeyStateCache } from "@/lib/keys/runtime";
import { countWhoamiResults } from "@/lib/metrics";

export const dynamic = "force-dynamic";

export const GET = withErrorHandling(countWhoamiResults(async ({ request }) => {
  const keyRing = requireKeyRing();
  const token = bearerToken(request);
  if (!token) throw new AppError("token_invalid", "Send the instance API key as Authorization: Bearer <key>.");
  const identity = await authenticateInstanceKey(token, {
    keyRing,
    env: getEnv().KILO_TOKEN_ENV,
    cache: await getKeyStateCache(),
  });
  return Response.json(
    { userId: identity.userId, instanceId: identity.instanceId, keyId: identity.keyId, expiresAt: identity.expiresAt.toISOString() },
    { headers: { "cache-control": "no-store" } },
  );
}));

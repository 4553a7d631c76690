// POST /api/account/rotate-pepper — the signed-in user revokes every API key minted so far.
import { getDb } from "@/db";
import { readJsonBody } from "@/lib/http/body";
import { withUser } from "@/lib/http/handlers";
import { emptyBodySchema } from "@/lib/http/request";
import { peekKeyStateCache } from "@/lib/keys/runtime";
import { rotatePepper } from "@/lib/keys/rotate-pepper";

export const dynamic = "force-dynamic";

export const POST = withUser(async ({ request, user }) => {
  await readJsonBody(request, emptyBodySchema);
  const result = await rotatePepper(
    { userId: user.id, actor: { type: "user", id: user.id } },
    { db: await getDb(), cache: await peekKeyStateCache() },
  );
  return Response.json(
    { rotatedAt: result.rotatedAt.toISOString(), revokedKeyCount: result.revokedKeyCount },
    { headers: { "cache-control": "no-store" } },
  );
});

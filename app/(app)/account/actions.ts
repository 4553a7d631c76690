"use server";

import { getDb } from "@/db";
import type { ActionResult } from "@/components/instances/types";
import { requireUser } from "@/lib/auth/session";
import { rotatePepper } from "@/lib/keys/rotate-pepper";
import { getKeyStateCache } from "@/lib/keys/runtime";
import { endAllSessions } from "@/lib/users/users";
import { toActionResult } from "../instances/action-result";

export interface RevokeAllKeysResult {
  revokedKeyCount: number;
  rotatedAt: string;
}

/**
 * Revokes every API key of the signed-in user by rotating their pepper: each instance's key stops
 * authenticating at once (every replica's cache is told), and the instances need a redeploy to get
 * a fresh one. Repeating it rotates again.
 */
export async function revokeAllApiKeysAction(): Promise<ActionResult<RevokeAllKeysResult>> {
  return toActionResult(async () => {
    const user = await requireUser();
    const [db, cache] = await Promise.all([getDb(), getKeyStateCache()]);
    const result = await rotatePepper({ userId: user.id, actor: { type: "user", id: user.id } }, { db, cache });
    return { revokedKeyCount: result.revokedKeyCount, rotatedAt: result.rotatedAt.toISOString() };
  });
}

/**
 * Ends every session of the signed-in user, on every device and replica, this one included (the
 * page then signs out locally too). Repeating it is harmless.
 */
export async function signOutEverywhereAction(): Promise<ActionResult<{ signedOut: true }>> {
  return toActionResult(async () => {
    const user = await requireUser();
    await endAllSessions(await getDb(), user.id, { type: "user", id: user.id });
    return { signedOut: true as const };
  });
}

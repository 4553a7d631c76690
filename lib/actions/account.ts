"use server";

import { getDb } from "@/db";
import type { ActionResult } from "@/lib/actions/result";
import { requireUser } from "@/lib/auth/session";
import { revokeKeysAndRekey } from "@/lib/scheduler/rekey";
import { endAllSessions } from "@/lib/users/users";
import { toActionResult } from "./result";
import { applyE2eRekeyFaults } from "./e2e-faults";

export interface RevokeAllKeysResult {
  revokedKeyCount: number;
  /** Running instances being re-keyed live now (no restart). */
  runningInstanceCount: number;
  rotatedAt: string;
}

/**
 * Revokes every API key of the signed-in user by rotating their pepper: each instance's key stops
 * authenticating at once (every replica's cache is told), and running instances get a fresh key
 * live, without a restart, within seconds. Repeating it rotates again.
 */
export async function revokeAllApiKeysAction(): Promise<ActionResult<RevokeAllKeysResult>> {
  return toActionResult(async () => {
    const user = await requireUser();
    await applyE2eRekeyFaults(user.id);
    const result = await revokeKeysAndRekey({ userId: user.id, actor: { type: "user", id: user.id } });
    return { revokedKeyCount: result.revokedKeyCount, runningInstanceCount: result.runningInstanceCount, rotatedAt: result.rotatedAt.toISOString() };
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

import { getDb } from "@/db";
import type { Actor, OperationCommit } from "@/lib/audit/events";
import { getLifecycleDeps } from "@/lib/instances/deps";
import { refreshDueInstances } from "@/lib/instances/refresh";
import { rotatePepper, type RotatePepperResult } from "@/lib/keys/rotate-pepper";
import { getKeyStateCache } from "@/lib/keys/runtime";
import { logger } from "@/shared/logger";

const globalForRekey = globalThis as typeof globalThis & {
  fleetdeckRekeys?: { running: Map<string, Promise<void>>; again: Set<string>; heldUntil: Map<string, number> };
};

function rekeys() {
  globalForRekey.fleetdeckRekeys ??= { running: new Map(), again: new Set(), heldUntil: new Map() };
  return globalForRekey.fleetdeckRekeys;
}

/**
 * Holds this process's next live re-key of the owner's instances for `ms` (the e2e suite's fault
 * lever, lib/actions/e2e-faults.ts, so a browser can watch instances being re-keyed). Set
 * it before the rotation: it applies to every kick, the rotation listener's included.
 */
export function delayRekey(ownerId: string, ms: number): void {
  rekeys().heldUntil.set(ownerId, Date.now() + ms);
}

/**
 * Re-keys an owner's running instances live, in the background, right after their keys were
 * revoked (a pepper rotation): each is refreshed without a restart by the same refresh operation
 * and lease the scheduler uses, so a replica that hears of the rotation too never takes one twice.
 * One run per owner at a time in this process; a kick while one runs makes it go once more after,
 * so a second rotation is never missed. Failures are logged and left to the refresh's backoff and
 * the scheduler, which stays the backstop. Returns the run, for callers that want to wait.
 */
export function kickRekey(ownerId: string, actor: Actor): Promise<void> {
  const { running, again } = rekeys();
  const inFlight = running.get(ownerId);
  if (inFlight) {
    again.add(ownerId);
    return inFlight;
  }
  const run = (async () => {
    const heldFor = (rekeys().heldUntil.get(ownerId) ?? 0) - Date.now();
    rekeys().heldUntil.delete(ownerId);
    if (heldFor > 0) await new Promise((resolve) => setTimeout(resolve, heldFor));
    do {
      again.delete(ownerId);
      const summary = await refreshDueInstances({ ownerId, actor }, await getLifecycleDeps());
      if (summary.claimed > 0) logger.info("re-keyed after revocation", { refreshed: summary.refreshed, failed: summary.failed });
    } while (again.has(ownerId));
  })()
    .catch((error: unknown) => logger.warn("re-keying after a revocation failed; the scheduler will retry", { error }))
    .finally(() => running.delete(ownerId));
  running.set(ownerId, run);
  return run;
}

/**
 * "Revoke all API keys" of a user, for every caller (the account page, the user route, an admin):
 * rotates the pepper (every key of the user stops authenticating on every replica at once) and
 * then kicks the live re-key of their running instances, which the caller does not wait for; the
 * result says how many will be re-keyed. Stopped instances get a fresh key at their next start.
 */
export async function revokeKeysAndRekey(input: { userId: string; actor: Actor; commit?: OperationCommit }): Promise<RotatePepperResult> {
  const [db, cache] = await Promise.all([getDb(), getKeyStateCache()]);
  const result = await rotatePepper(input, { db, cache });
  if (result.runningInstanceCount > 0) void kickRekey(input.userId, input.actor);
  return result;
}

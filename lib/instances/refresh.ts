import { and, notInArray } from "drizzle-orm";
import { instances } from "@/db/schema";
import type { Actor } from "@/lib/audit/events";
import { AppError } from "@/lib/errors";
import { getEnv } from "@/shared/env";
import { gatewayTokenFor } from "@/lib/machines/gateway-token";
import { pushKeyToGateway } from "@/lib/machines/gateway-client";
import { signingKeyIdOf } from "@/lib/tokens/key-ring";
import type { LifecycleDeps } from "./deps";
import { deployedKeyValues } from "./deploy";
import { assertKeyRing } from "@/lib/keys/signing-secret";
import { claimMachineWriteForKey, mintKeyFor, REVOKED_DURING_OPERATION, storeKeyUnderLease } from "./fresh-key";
import { claimLeases, type Lease } from "./lease";
import { dueForRefresh, REFRESH_BACKOFF_CAP_MS, refreshOrder } from "./refresh-due";
import { buildMachineConfig } from "./machine-config";
import { reconcileStaleInstances } from "./reconcile";
import { runOperation, type MintingOperationContext, type OperationResult } from "./operation";
import { toAppError } from "./operation-errors";

const SCHEDULER: Actor = { type: "scheduler", id: "refresh-keys" };

/** Retry delay after the n-th consecutive failure: 1, 2, 4 … minutes, capped at an hour, ±20 % jitter. */
export function refreshBackoffMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(60_000 * 2 ** Math.max(0, attempt - 1), REFRESH_BACKOFF_CAP_MS);
  return Math.round(base * (0.8 + 0.4 * random()));
}

export interface RefreshSummary {
  /** Instances whose status was corrected from the provider before looking for due keys. */
  reconciled: number;
  claimed: number;
  refreshed: number;
  failed: number;
  results: { instanceId: string; outcome: "refreshed" | "failed"; keyId?: string; errorCode?: string }[];
}

export interface RefreshOptions {
  /** Most instances to claim in this run. */
  limit?: number;
  /** Refresh keys within this many hours of expiry (PROACTIVE_REFRESH_THRESHOLD_HOURS). */
  thresholdHours?: number;
  /** How many refreshes run at once (REFRESH_CONCURRENCY). */
  concurrency?: number;
  /** Only this owner's instances, and no reconcile first: a pepper rotation re-keying them at once. */
  ownerId?: string;
  /** Who the audit log names as having triggered it (the scheduler by default). */
  actor?: Actor;
}

/** Most instances one pass claims: at the default concurrency, a few minutes of provider work. */
const DEFAULT_PASS_LIMIT = 10_000;

/**
 * One scheduler pass: reconciles instances not checked for a while, then refreshes every running
 * instance that is due (see dueForRefresh) — keys under a retiring or retired signing secret and
 * revoked keys first, then by expiry — with `concurrency` refreshes in flight at any moment.
 * Instances are claimed only into free slots, a few at a time (`FOR UPDATE SKIP LOCKED`, taking
 * each instance's operation lease in the same transaction), so replicas running passes at the
 * same time never pick the same instance, no claimed lease waits in a queue while it ages, and no
 * user operation runs on an instance while it is being refreshed. A refreshed or failed instance is no
 * longer due (failures back off), so the pass ends. Safe to call as often as you like.
 */
export async function refreshDueInstances(options: RefreshOptions, deps: LifecycleDeps): Promise<RefreshSummary> {
  // Which keys are due depends on the current signer: no pass (and no claim) without one.
  const currentKid = signingKeyIdOf(assertKeyRing(deps.keyRing).current);
  const thresholdHours = options.thresholdHours ?? getEnv().PROACTIVE_REFRESH_THRESHOLD_HOURS;
  const limit = options.limit ?? DEFAULT_PASS_LIMIT;
  const concurrency = Math.max(1, options.concurrency ?? deps.refreshConcurrency);
  const actor = options.actor ?? SCHEDULER;
  // Reconcile first: an instance left in a transitional status (a crashed replica, a failed
  // release) is running in truth and must not drop out of the refresh forever.
  const { changed } = options.ownerId ? { changed: 0 } : await reconcileStaleInstances({ limit: 100 }, deps);
  const summary: RefreshSummary = { reconciled: changed, claimed: 0, refreshed: 0, failed: 0, results: [] };

  // An instance whose refresh failed without a backoff (a rotation landed mid-refresh) is due again
  // at once, but not in this pass: the next pass, or the rotation's own re-key, takes it.
  const failedHere: string[] = [];
  const refreshOne = async (lease: Lease): Promise<void> => {
    try {
      const row = await runOperation({ instanceId: lease.instanceId, operation: "refresh", actor, mints: true }, deps, refreshInstanceKey, {
        claimedLease: lease,
      });
      summary.refreshed++;
      summary.results.push({ instanceId: row.id, outcome: "refreshed", keyId: row.deployedKeyId ?? undefined });
    } catch (error) {
      const failure = toAppError(error);
      summary.failed++;
      // Every other failure backs off, so it is not due again in this pass anyway.
      if (failure.details?.reason === REVOKED_DURING_OPERATION) failedHere.push(lease.instanceId);
      summary.results.push({ instanceId: lease.instanceId, outcome: "failed", errorCode: failure.code });
    }
  };

  // Claim only into free slots, so no claimed lease waits in a queue while it ages; but claim
  // several at once (one query sorts the due set), refilling whenever an eighth of the slots is free.
  const inFlight = new Set<Promise<void>>();
  const refillAt = Math.max(1, Math.floor(concurrency / 8));
  while (summary.claimed < limit) {
    const free = concurrency - inFlight.size;
    if (free < refillAt) {
      await Promise.race(inFlight);
      continue;
    }
    const batch = await claimLeases(deps.db, {
      where: and(
        dueForRefresh({ now: deps.now(), thresholdHours, currentKid, ownerId: options.ownerId }),
        failedHere.length ? notInArray(instances.id, failedHere) : undefined,
      ),
      orderBy: refreshOrder(currentKid),
      limit: Math.min(free, limit - summary.claimed),
      operation: "refresh",
      ttlMs: deps.timeouts.leaseMs,
    });
    if (batch.length === 0) break;
    summary.claimed += batch.length;
    for (const lease of batch) {
      const running: Promise<void> = refreshOne(lease).finally(() => inFlight.delete(running));
      inFlight.add(running);
    }
  }
  await Promise.all(inFlight);
  return summary;
}

/**
 * Replaces a running instance's key without a restart: mint under the current pepper and signing
 * secret, store it as latest, re-check under the lease that it is still the latest and not
 * revoked, write it durably into the machine config without booting (`skipLaunch`, so a later
 * restart keeps it), then push it live to the gateway, which re-verifies it with whoami before
 * swapping. Only a key the gateway confirms as valid counts as deployed. A failure schedules a
 * retry with backoff and leaves the old key running (it is still valid unless revoked); a
 * revocation that lands mid-refresh leaves the machine untouched and the instance due again at once.
 */
async function refreshInstanceKey(context: MintingOperationContext): Promise<OperationResult> {
  const { deps, lease } = context;
  const row = lease.row;
  const attempt = row.refreshAttempts + 1;
  context.failureValues = {
    refreshAttempts: attempt,
    nextRefreshAttemptAt: new Date(deps.now().getTime() + refreshBackoffMs(attempt)),
  };

  await context.update({ leaseStep: "minting_key" });
  const minted = await context.time("mint", () => mintKeyFor(context));
  context.key = { source: "minted", keyId: minted.keyId };
  await context.time("persist", () => storeKeyUnderLease(context, minted));

  try {
    await claimMachineWriteForKey(context, minted.keyId, { leaseStep: "updating_machine" });
  } catch (error) {
    // Not a failure of this instance: the rotation wants a fresh key now, not after a backoff.
    context.failureValues = {};
    throw error;
  }
  const machine = await context.time("machine", () =>
    deps.machines.update(row.machineId!, {
      config: buildMachineConfig(row, minted.token, deps),
      skipLaunch: true,
      // Fenced like every machine write: a machine that moved on since the row was read refuses it (409).
      ...(row.machineVersion && !lease.interrupted ? { currentVersion: row.machineVersion } : {}),
    }),
  );
  await context.update({ leaseStep: "verifying_credential", machineVersion: machine.version });

  const pushed = await context.time("credential", () =>
    pushKeyToGateway(deps.machines.gatewayUrl(machine), gatewayTokenFor(row.id, deps.gatewayTokenSecret), minted.token),
  );
  if (!pushed.applied || pushed.credential.state !== "valid" || pushed.credential.keyId !== minted.keyId) {
    throw new AppError(
      "credential_unverified",
      `The gateway did not take the refreshed key (it reported ${pushed.credential.state}); it keeps running with its previous key.`,
    );
  }

  return {
    values: {
      ...deployedKeyValues(minted, deps.now()),
      refreshAttempts: 0,
      nextRefreshAttemptAt: null,
      lastErrorCode: null,
      lastErrorMessage: null,
      lastErrorAt: null,
    },
    details: { machineVersion: machine.version, previousKeyId: row.deployedKeyId },
  };
}

import { and, asc, eq, isNotNull, isNull, lte, ne, or } from "drizzle-orm";
import { instances } from "@/db/schema";
import type { Actor } from "@/lib/audit/events";
import { AppError } from "@/lib/errors";
import { getEnv } from "@/lib/env";
import { mintApiKey } from "@/lib/keys/mint";
import { storeMintedKey } from "@/lib/keys/store-key";
import { gatewayTokenFor } from "@/lib/machines/gateway-token";
import { pushKeyToGateway } from "@/lib/machines/gateway-client";
import type { LifecycleDeps } from "./deps";
import { requireSigningSecret } from "./deploy";
import { claimLeases } from "./lease";
import { buildMachineConfig } from "./machine-config";
import { reconcileStaleInstances } from "./reconcile";
import { runOperation, toAppError, type OperationContext, type OperationResult } from "./operation";

const SCHEDULER: Actor = { type: "scheduler", id: "refresh-keys" };
const HOUR_MS = 60 * 60 * 1000;

/** Retry delay after the n-th consecutive failure: 1, 2, 4 … minutes, capped at an hour, ±20 % jitter. */
export function refreshBackoffMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(60_000 * 2 ** Math.max(0, attempt - 1), HOUR_MS);
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
  /** Refresh keys expiring within this many hours (PROACTIVE_REFRESH_THRESHOLD_HOURS). */
  thresholdHours?: number;
  /** How many refreshes run at once. */
  concurrency?: number;
}

/**
 * One scheduler pass: reconciles instances not checked for a while, then claims running instances whose deployed key expires within the threshold,
 * was revoked by a pepper rotation, or is not the latest minted one, and refreshes each (see
 * refreshInstanceKey). Claims use `FOR UPDATE SKIP LOCKED` and take each instance's operation
 * lease in the same transaction, so replicas running passes at the same time never pick the same
 * instance, and no user operation runs on an instance while it is being refreshed. Instances whose
 * last refresh failed wait for their backoff. Safe to call as often as you like.
 */
export async function refreshDueInstances(options: RefreshOptions, deps: LifecycleDeps): Promise<RefreshSummary> {
  requireSigningSecret(deps);
  const thresholdHours = options.thresholdHours ?? getEnv().PROACTIVE_REFRESH_THRESHOLD_HOURS;
  const limit = options.limit ?? 50;
  const concurrency = Math.max(1, options.concurrency ?? 4);
  // Reconcile first: an instance left in a transitional status (a crashed replica, a failed
  // release) is running in truth and must not drop out of the refresh forever.
  const { changed } = await reconcileStaleInstances({ limit: Math.max(limit, 100) }, deps);
  const summary: RefreshSummary = { reconciled: changed, claimed: 0, refreshed: 0, failed: 0, results: [] };

  // Claim only as many as run at once, so no claimed lease waits in a queue while it ages. A
  // refreshed or failed instance is no longer due (failures back off), so the loop ends.
  while (summary.claimed < limit) {
    const batch = await claimLeases(deps.db, {
      where: dueForRefresh(deps.now(), thresholdHours),
      orderBy: asc(instances.deployedKeyExpiresAt),
      limit: Math.min(concurrency, limit - summary.claimed),
      operation: "refresh",
      ttlMs: deps.timeouts.leaseMs,
    });
    if (batch.length === 0) break;
    summary.claimed += batch.length;
    await Promise.all(
      batch.map(async (lease) => {
        try {
          const row = await runOperation({ instanceId: lease.instanceId, operation: "refresh", actor: SCHEDULER }, deps, refreshInstanceKey, {
            claimedLease: lease,
          });
          summary.refreshed++;
          summary.results.push({ instanceId: row.id, outcome: "refreshed", keyId: row.deployedKeyId ?? undefined });
        } catch (error) {
          summary.failed++;
          summary.results.push({ instanceId: lease.instanceId, outcome: "failed", errorCode: toAppError(error).code });
        }
      }),
    );
  }
  return summary;
}

/** Running instances whose deployed key expires within the threshold, was revoked, or is not the latest. */
function dueForRefresh(now: Date, thresholdHours: number) {
  const horizon = new Date(now.getTime() + thresholdHours * HOUR_MS);
  return and(
    eq(instances.status, "running"),
    isNotNull(instances.machineId),
    or(isNull(instances.nextRefreshAttemptAt), lte(instances.nextRefreshAttemptAt, now)),
    or(
      isNull(instances.deployedKeyExpiresAt),
      lte(instances.deployedKeyExpiresAt, horizon),
      isNotNull(instances.keyRevokedAt),
      isNull(instances.deployedKeyId),
      ne(instances.deployedKeyId, instances.keyId),
    ),
  );
}

/**
 * Replaces a running instance's key without a restart: mint under the current pepper, store it as
 * latest, write it durably into the machine config without booting (`skipLaunch`, so a later
 * restart keeps it), then push it live to the gateway, which re-verifies it with whoami before
 * swapping. Only a key the gateway confirms as valid counts as deployed. A failure schedules a
 * retry with backoff and leaves the old key running (it is still valid unless revoked).
 */
async function refreshInstanceKey(context: OperationContext): Promise<OperationResult> {
  const { deps, lease } = context;
  const row = lease.row;
  const attempt = row.refreshAttempts + 1;
  context.failureValues = {
    refreshAttempts: attempt,
    nextRefreshAttemptAt: new Date(deps.now().getTime() + refreshBackoffMs(attempt)),
  };

  await context.setStep("minting_key");
  const minted = await context.time("mint", () =>
    mintApiKey(
      { userId: row.ownerId, instanceId: row.id },
      { db: deps.db, secret: requireSigningSecret(deps), env: deps.tokenEnv, now: deps.now, timeoutMs: deps.timeouts.mintMs },
    ),
  );
  context.key = { source: "minted", keyId: minted.keyId };
  const { revoked } = await context.time("persist", () =>
    storeMintedKey(minted, { db: deps.db, encryptionKey: deps.encryptionKey, now: deps.now, leaseToken: lease.token }),
  );
  if (revoked) throw new AppError("key_unavailable", "The owner's keys were revoked during the refresh; the next pass mints again.");

  await context.setStep("updating_machine");
  const machine = await context.time("machine", () =>
    deps.machines.update(row.machineId!, {
      config: buildMachineConfig(row, minted.token, deps),
      skipLaunch: true,
      // Fenced like every machine write: a machine that moved on since the row was read refuses it (409).
      ...(row.machineVersion && !lease.interrupted ? { currentVersion: row.machineVersion } : {}),
    }),
  );
  await context.setStep("verifying_credential", { machineVersion: machine.version });

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
      deployedKeyId: minted.keyId,
      deployedKeyExpiresAt: minted.expiresAt,
      deployedAt: deps.now(),
      refreshAttempts: 0,
      nextRefreshAttemptAt: null,
      lastErrorCode: null,
      lastErrorMessage: null,
      lastErrorAt: null,
    },
    details: { machineVersion: machine.version, previousKeyId: row.deployedKeyId },
  };
}

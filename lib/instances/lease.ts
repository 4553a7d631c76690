import { randomUUID } from "node:crypto";
import { and, eq, isNull, or, sql, lt } from "drizzle-orm";
import type { Database } from "@/db";
import { instances, type InstanceRow, type NewInstanceRow } from "@/db/schema";
import { AppError } from "@/lib/errors";

/**
 * Long enough for the slowest operation step (a 60 s machine wait plus the credential check);
 * every step renews it, so only a crashed replica's lease ever runs out.
 */
export const DEFAULT_LEASE_TTL_MS = 2 * 60 * 1000;

export type LifecycleOperation = "start" | "stop" | "redeploy" | "destroy" | "refresh";

/** Human-readable progress of the running operation, shown by the dashboard while it polls. */
export type OperationStep = "queued" | "minting_key" | "updating_machine" | "waiting_for_start" | "verifying_credential" | "stopping_machine" | "destroying_machine";

export interface Lease {
  instanceId: string;
  token: string;
  operation: LifecycleOperation;
  ttlMs: number;
  /** The row as it was when the lease was taken. */
  row: InstanceRow;
}

function leaseExpiry(ttlMs: number) {
  // The database clock decides expiry, so replicas with skewed clocks agree on it.
  return sql`now() + ${ttlMs} * interval '1 millisecond'`;
}

/**
 * Takes the per-instance operation lease with one conditional UPDATE: it succeeds only when no
 * lease is held or the holder's lease has expired (a crashed replica's lease is recovered here).
 * Of two racing callers exactly one wins; the other gets `operation_in_progress`. When `ownerId`
 * is given, another user's or a missing or destroyed instance is `not_found`.
 */
export async function acquireLease(
  db: Database,
  input: { instanceId: string; operation: LifecycleOperation; ownerId?: string; ttlMs?: number; step?: OperationStep },
): Promise<Lease> {
  const ttlMs = input.ttlMs ?? DEFAULT_LEASE_TTL_MS;
  const token = randomUUID();
  const scope = and(
    eq(instances.id, input.instanceId),
    isNull(instances.destroyedAt),
    input.ownerId ? eq(instances.ownerId, input.ownerId) : undefined,
  );
  const [row] = await db
    .update(instances)
    .set({ leaseToken: token, leaseOperation: input.operation, leaseStep: input.step ?? "queued", leaseExpiresAt: leaseExpiry(ttlMs) })
    .where(and(scope, or(isNull(instances.leaseToken), lt(instances.leaseExpiresAt, sql`now()`))))
    .returning();
  if (row) return { instanceId: input.instanceId, token, operation: input.operation, ttlMs, row };

  const [existing] = await db
    .select({ operation: instances.leaseOperation })
    .from(instances)
    .where(scope)
    .limit(1);
  if (!existing) throw new AppError("not_found", "No such instance.");
  throw new AppError(
    "operation_in_progress",
    `Another operation (${existing.operation ?? "unknown"}) is already running on this instance. Wait for it to finish and try again.`,
  );
}

/**
 * Writes to the instance only while this lease is still held, renewing it. Throws when the lease
 * was lost (it expired and another operation took over): the caller must stop acting.
 */
export async function updateUnderLease(
  db: Database,
  lease: Lease,
  values: Partial<NewInstanceRow> & { leaseStep?: OperationStep },
): Promise<InstanceRow> {
  const [row] = await db
    .update(instances)
    .set({ ...values, leaseExpiresAt: leaseExpiry(lease.ttlMs), updatedAt: new Date() })
    .where(and(eq(instances.id, lease.instanceId), eq(instances.leaseToken, lease.token)))
    .returning();
  if (!row) {
    throw new AppError("operation_in_progress", "This operation took too long and another one has taken over the instance.");
  }
  return row;
}

/**
 * Releases the lease, applying final values in the same statement. Releasing a lease that was
 * already lost changes nothing and returns undefined.
 */
export async function releaseLease(
  db: Database,
  lease: Lease,
  values: Partial<NewInstanceRow> = {},
): Promise<InstanceRow | undefined> {
  const [row] = await db
    .update(instances)
    .set({ ...values, leaseToken: null, leaseOperation: null, leaseStep: null, leaseExpiresAt: null, updatedAt: new Date() })
    .where(and(eq(instances.id, lease.instanceId), eq(instances.leaseToken, lease.token)))
    .returning();
  return row;
}

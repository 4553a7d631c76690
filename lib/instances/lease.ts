import { randomUUID } from "node:crypto";
import { and, eq, inArray, isNull, lt, or, sql, type SQL } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import type { Database } from "@/db";
import { instances, type InstanceRow, type NewInstanceRow } from "@/db/schema";
import { AppError } from "@/lib/errors";
import type { LifecycleOperation, OperationStep } from "./operation-steps";

/**
 * How long a lease lives without renewal. The operation runner renews it every third of this (and
 * before every machine write), so a step may take longer; only a dead or partitioned replica's
 * lease runs out, and another replica can take the instance over this soon after (well inside the
 * 45 s promise). `OPERATION_LEASE_SECONDS` overrides it.
 */
export const DEFAULT_LEASE_TTL_MS = 30 * 1000;

export type { LifecycleOperation, OperationStep };

export interface Lease {
  instanceId: string;
  token: string;
  operation: LifecycleOperation;
  ttlMs: number;
  /** The row as it was when the lease was taken. */
  row: InstanceRow;
  /** Set when this lease replaced an expired one: the operation that was interrupted (its replica died or stalled). */
  interrupted?: InterruptedOperation;
}

export interface InterruptedOperation {
  operation: string;
  step: string | null;
  leaseExpiredAt: Date | null;
}

export function leaseExpiry(ttlMs: number) {
  // The database clock decides expiry, so replicas with skewed clocks agree on it.
  return sql`now() + ${ttlMs} * interval '1 millisecond'`;
}

/** No operation holds the instance: no lease, or the holder's lease ran out (it crashed). */
export function leaseIsFree() {
  return or(isNull(instances.leaseToken), lt(instances.leaseExpiresAt, sql`now()`));
}

/**
 * Takes the per-instance operation lease with a conditional UPDATE: it succeeds when no lease is
 * held, or when the holder's lease has expired (a crashed replica's lease is recovered here; the
 * lease then names the interrupted operation in `interrupted`). Of racing callers exactly one wins;
 * the others get `operation_in_progress`. When `ownerId` is given, another user's or a missing or
 * destroyed instance is `not_found`.
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
  const take = { leaseToken: token, leaseOperation: input.operation, leaseStep: input.step ?? "queued", leaseExpiresAt: leaseExpiry(ttlMs) } as const;
  const [row] = await db.update(instances).set(take).where(and(scope, isNull(instances.leaseToken))).returning();
  if (row) return { instanceId: input.instanceId, token, operation: input.operation, ttlMs, row };

  const [existing] = await db
    .select({
      token: instances.leaseToken,
      operation: instances.leaseOperation,
      step: instances.leaseStep,
      expiresAt: instances.leaseExpiresAt,
      expired: sql<boolean>`${instances.leaseExpiresAt} < now()`,
    })
    .from(instances)
    .where(scope)
    .limit(1);
  if (!existing) throw new AppError("not_found", "No such instance.");
  if (existing.token && existing.expired) {
    // Take over exactly the expired lease we saw, so the interrupted operation named is the right one.
    const [takenOver] = await db
      .update(instances)
      .set(take)
      .where(and(scope, eq(instances.leaseToken, existing.token), lt(instances.leaseExpiresAt, sql`now()`)))
      .returning();
    if (takenOver) {
      const interrupted = { operation: existing.operation ?? "unknown", step: existing.step, leaseExpiredAt: existing.expiresAt };
      return { instanceId: input.instanceId, token, operation: input.operation, ttlMs, row: takenOver, interrupted };
    }
  }
  if (!existing.token) return acquireLease(db, input); // released between the two statements
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
    .where(holdsLease(lease))
    .returning();
  if (!row) throw lostLeaseError();
  return row;
}

/**
 * Like updateUnderLease, but only when `condition` also holds on the row; undefined when it does
 * not (while the lease is still held). Used to re-check facts other transactions may have changed
 * since the operation read the row, at the last moment before acting on them.
 */
export async function updateUnderLeaseIf(
  db: Database,
  lease: Lease,
  condition: SQL | undefined,
  values: Partial<NewInstanceRow> & { leaseStep?: OperationStep },
): Promise<InstanceRow | undefined> {
  const [row] = await db
    .update(instances)
    .set({ ...values, leaseExpiresAt: leaseExpiry(lease.ttlMs), updatedAt: new Date() })
    .where(and(holdsLease(lease), condition))
    .returning();
  if (row) return row;
  const [held] = await db.select({ id: instances.id }).from(instances).where(holdsLease(lease)).limit(1);
  if (!held) throw lostLeaseError();
  return undefined;
}

/** The row is still this lease's (and the instance not destroyed). */
export function holdsLease(lease: Pick<Lease, "instanceId" | "token">) {
  return and(eq(instances.id, lease.instanceId), eq(instances.leaseToken, lease.token), isNull(instances.destroyedAt));
}

export function lostLeaseError(): AppError {
  return new AppError("operation_in_progress", "This operation took too long and another one has taken over the instance.");
}

/**
 * Extends the lease while a long step runs (the operation runner calls it on a timer). Returns
 * false once the lease is no longer held, so the caller can stop.
 */
export async function renewLease(db: Database, lease: Lease): Promise<boolean> {
  const renewed = await db
    .update(instances)
    .set({ leaseExpiresAt: leaseExpiry(lease.ttlMs) })
    .where(holdsLease(lease))
    .returning({ id: instances.id });
  return renewed.length > 0;
}

/**
 * Claims up to `limit` instances matching `where` for one operation each, in one transaction:
 * `FOR UPDATE SKIP LOCKED` keeps racing replicas off each other's picks, and every claimed row
 * gets a lease of its own. Rows with a live lease are never claimed; an expired one is taken over
 * and named in the lease's `interrupted`.
 */
export async function claimLeases(
  db: Database,
  input: { where: SQL | undefined; orderBy: (SQL | PgColumn)[]; limit: number; operation: LifecycleOperation; ttlMs: number },
): Promise<Lease[]> {
  const previous = new Map<string, InterruptedOperation>();
  const rows = await db.transaction(async (tx) => {
    const due = await tx
      .select({ id: instances.id, token: instances.leaseToken, operation: instances.leaseOperation, step: instances.leaseStep, expiresAt: instances.leaseExpiresAt })
      .from(instances)
      .where(and(input.where, isNull(instances.destroyedAt), leaseIsFree()))
      .orderBy(...input.orderBy)
      .limit(input.limit)
      .for("update", { skipLocked: true });
    if (due.length === 0) return [];
    for (const row of due) {
      if (row.token) previous.set(row.id, { operation: row.operation ?? "unknown", step: row.step, leaseExpiredAt: row.expiresAt });
    }
    return tx
      .update(instances)
      .set({ leaseToken: sql`gen_random_uuid()`, leaseOperation: input.operation, leaseStep: "queued", leaseExpiresAt: leaseExpiry(input.ttlMs) })
      .where(inArray(instances.id, due.map((row) => row.id)))
      .returning();
  });
  return rows.map((row) => ({
    instanceId: row.id,
    token: row.leaseToken!,
    operation: input.operation,
    ttlMs: input.ttlMs,
    row,
    ...(previous.has(row.id) ? { interrupted: previous.get(row.id)! } : {}),
  }));
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

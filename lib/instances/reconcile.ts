import { and, eq, isNotNull, isNull, lt, or, sql } from "drizzle-orm";
import type { InstanceRow } from "@/db/schema";
import { instances } from "@/db/schema";
import { recordInstanceEvent } from "@/lib/audit/events";
import { isMachineError, MachineError } from "@/lib/machines/types";
import type { LifecycleDeps } from "./deps";
import { leaseIsFree } from "./lease";
import { statusFromMachineState } from "./machine-status";

/**
 * Brings the instance's status in line with what the provider reports for its machine, at most
 * once per `reconcileIntervalMs` per instance. Skips instances with an operation in flight (the
 * operation owns the status) and never fights one: the write is conditional on no lease being
 * held and on the row being unchanged since it was read. A machine that vanished (for example local machines
 * after the app restarted) turns a running instance into `failed` with `machine_missing`, and
 * forgets the machine so the next start creates a new one. Provider errors leave the row as is.
 * An expired lease (its replica died mid-operation) does not stop it: the lease is cleared in the
 * same write and an `operation_interrupted` event names the operation that never finished.
 */
export async function reconcileInstance(row: InstanceRow, deps: LifecycleDeps): Promise<InstanceRow> {
  const now = deps.now();
  const leaseHeld = row.leaseToken !== null && row.leaseExpiresAt !== null && row.leaseExpiresAt > now;
  const recentlyChecked = row.statusCheckedAt !== null && now.getTime() - row.statusCheckedAt.getTime() < deps.reconcileIntervalMs;
  if (!row.machineId || row.destroyedAt || leaseHeld || recentlyChecked) return row;

  let observed: Partial<InstanceRow>;
  try {
    const machine = await deps.machines.get(row.machineId);
    // Fly still returns a destroyed machine for a while; it is as gone as a missing one.
    if (machine.state === "destroyed") throw new MachineError("not_found", "The machine was destroyed.");
    observed = { status: statusFromMachineState(machine.state) };
  } catch (error) {
    if (!(isMachineError(error) && error.kind === "not_found")) return row;
    const wasUp = !["stopped", "provisioned", "failed"].includes(row.status);
    observed = {
      status: wasUp ? "failed" : row.status,
      machineId: null,
      machineVersion: null,
      ...(wasUp
        ? { lastErrorCode: "machine_missing", lastErrorMessage: "The instance's machine no longer exists. Start or redeploy it to create a new one.", lastErrorAt: now }
        : {}),
    };
  }

  const expiredLease = row.leaseToken !== null ? row.leaseToken : undefined;
  const [updated] = await deps.db
    .update(instances)
    .set({
      ...observed,
      statusCheckedAt: now,
      ...(expiredLease ? { leaseToken: null, leaseOperation: null, leaseStep: null, leaseExpiresAt: null } : {}),
    })
    .where(and(eq(instances.id, row.id), unchangedSince(row), leaseIsFree(), expiredLease ? eq(instances.leaseToken, expiredLease) : undefined))
    .returning();
  if (!updated) return row;
  if (expiredLease) {
    await recordInstanceEvent(deps.db, {
      instanceId: row.id,
      userId: row.ownerId,
      actor: { type: "system", id: "reconcile" },
      action: "operation_interrupted",
      outcome: "failure",
      errorCode: "operation_interrupted",
      errorMessage: `The ${row.leaseOperation ?? "unknown"} operation stopped at ${row.leaseStep ?? "an unknown step"} without finishing (its lease expired); reconcile found the machine ${updated.status}.`,
      details: { interruptedOperation: row.leaseOperation, interruptedStep: row.leaseStep, leaseExpiredAt: row.leaseExpiresAt?.toISOString() ?? null, takenOverBy: "reconcile" },
    });
  }
  if (updated.status !== row.status) {
    await recordInstanceEvent(deps.db, {
      instanceId: row.id,
      userId: row.ownerId,
      actor: { type: "system", id: "reconcile" },
      action: "reconcile",
      outcome: "success",
      details: { from: row.status, to: updated.status },
    });
  }
  return updated;
}

/**
 * The row still is as `row` read it: an operation that started and finished while the provider was
 * being asked (a redeploy, a stop and start) has moved updatedAt, the machine or the status, so a
 * stale observation is dropped instead of overwriting what that operation recorded. Every write
 * under a lease and every lease release sets updatedAt; it is compared to the millisecond because
 * a JS Date carries no more (a database default has microseconds).
 */
function unchangedSince(row: InstanceRow) {
  return and(
    eq(instances.status, row.status),
    row.machineId === null ? isNull(instances.machineId) : eq(instances.machineId, row.machineId),
    row.machineVersion === null ? isNull(instances.machineVersion) : eq(instances.machineVersion, row.machineVersion),
    sql`abs(extract(epoch from ${instances.updatedAt} - ${row.updatedAt.toISOString()}::timestamptz)) < 0.001`,
  );
}

/**
 * The periodic half of reconciliation: re-checks up to `limit` instances with a machine whose
 * status was not checked for `staleAfterMs`, oldest first. Safe to run from every replica at once
 * (each write is conditional; the worst case is a duplicate provider read).
 */
export async function reconcileStaleInstances(
  options: { limit?: number; staleAfterMs?: number },
  deps: LifecycleDeps,
): Promise<{ checked: number; changed: number }> {
  const cutoff = new Date(deps.now().getTime() - (options.staleAfterMs ?? 5 * 60 * 1000));
  const stale = await deps.db
    .select()
    .from(instances)
    .where(
      and(
        isNotNull(instances.machineId),
        isNull(instances.destroyedAt),
        leaseIsFree(),
        // An expired lease means a replica died mid-operation: check that instance now, not in five minutes.
        or(isNull(instances.statusCheckedAt), lt(instances.statusCheckedAt, cutoff), isNotNull(instances.leaseToken)),
      ),
    )
    // Never-checked rows first, then the longest unchecked.
    .orderBy(sql`${instances.statusCheckedAt} asc nulls first`)
    .limit(options.limit ?? 100);
  let changed = 0;
  for (const row of stale) {
    const after = await reconcileInstance(row, { ...deps, reconcileIntervalMs: 0 });
    if (after.status !== row.status) changed++;
  }
  return { checked: stale.length, changed };
}

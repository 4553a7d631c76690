import type { Database } from "@/db";
import { instanceEvents, type actorType, type KeySource } from "@/db/schema";

export type ActorType = (typeof actorType.enumValues)[number];

/** Who asked for an operation, as the audit log records it. */
export interface Actor {
  type: ActorType;
  /** The user id for users and admins; a service or job name otherwise. */
  id: string | null;
}

export interface InstanceEventInput {
  instanceId: string | null;
  userId: string | null;
  actor: Actor;
  action: string;
  outcome: "success" | "failure" | "noop";
  keySource?: KeySource | null;
  keyId?: string | null;
  errorCode?: string | null;
  errorMessage?: string | null;
  durationMs?: number | null;
  details?: Record<string, unknown> | null;
}

/**
 * A caller's record that must be durable together with an operation (a fleet job's item outcome):
 * `write` runs in the transaction that records the operation's outcome — the lease release of a
 * lifecycle operation after a success or no-op, a pepper rotation — and that transaction also
 * appends the audit event, so the operation's end, the caller's record and the event commit
 * together or not at all. A `write` that throws rolls all of it back and the operation fails with
 * its error, like any failure.
 */
export interface OperationCommit {
  /** Added to the operation's audit event, success or failure (e.g. the fleet job item it ran for). */
  details: Record<string, unknown>;
  write(tx: Database, outcome: "success" | "noop"): Promise<void>;
}

type Executor = Pick<Database, "insert">;

/**
 * Appends one row to the audit log. Callers pass key ids, never keys; messages come from AppError
 * or MachineError, whose texts never contain key material.
 */
export async function recordInstanceEvent(executor: Executor, event: InstanceEventInput): Promise<void> {
  await executor.insert(instanceEvents).values({
    instanceId: event.instanceId,
    userId: event.userId,
    actorType: event.actor.type,
    actorId: event.actor.id,
    action: event.action,
    outcome: event.outcome,
    keySource: event.keySource ?? null,
    keyId: event.keyId ?? null,
    errorCode: event.errorCode ?? null,
    errorMessage: event.errorMessage ?? null,
    durationMs: event.durationMs === undefined || event.durationMs === null ? null : Math.round(event.durationMs),
    details: event.details ?? null,
  });
}

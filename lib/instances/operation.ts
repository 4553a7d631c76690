import type { Database } from "@/db";
import type { InstanceRow, KeySource, NewInstanceRow } from "@/db/schema";
import { recordInstanceEvent, type Actor, type InstanceEventInput, type OperationCommit } from "@/lib/audit/events";
import { notifyKeyStateChanged } from "@/lib/keys/invalidation";
import { consumeUserOperation } from "@/lib/limits/rate-limit";
import { logger } from "@/shared/logger";
import { assertKeyRing } from "@/lib/keys/signing-secret";
import type { KeyRing } from "@/lib/tokens/key-ring";
import type { SQL } from "drizzle-orm";
import { completeDurably } from "./completion";
import { recordOperation } from "@/lib/metrics";
import type { LifecycleDeps } from "./deps";
import { createLeaseFence, fenceMachineProvider } from "./fence";
import { acquireLease, lostLeaseError, releaseLease, updateUnderLease, updateUnderLeaseIf, type Lease, type LifecycleOperation, type OperationStep } from "./lease";
import { recordInterruption } from "./interruption";
import { observeMachine } from "./machine-status";
import { toAppError } from "./operation-errors";

/** Where an operation's time went, recorded on its audit event (and read by the benchmark). */
export type StepTimings = Partial<Record<"mint" | "persist" | "machine" | "wait" | "credential", number>>;

export interface OperationContext {
  lease: Lease;
  /** The caller's deps, with `machines` fenced by the lease: no machine call once the lease is lost. */
  deps: LifecycleDeps;
  actor: Actor;
  timings: StepTimings;
  /** Set once a machine call has been made: failures after it re-read the machine's real state. */
  machineTouched: boolean;
  /** The instance's machine as this operation knows it (set as soon as one is created). */
  machineId: string | null;
  /** Key facts for the audit event, filled in as soon as they are known. */
  key: { source?: KeySource; keyId?: string };
  /** Extra values written with the lease release when the operation fails (e.g. retry backoff). */
  failureValues: Partial<NewInstanceRow>;
  /**
   * Writes `values` (say, the step shown and the status) to the instance row, only while this
   * operation still holds the lease: a lost lease is `operation_in_progress`, nothing written.
   */
  update(values: LeaseRowValues): Promise<InstanceRow>;
  /** The same write, made only if `condition` also holds; undefined (nothing written) when it does not. */
  updateIf(condition: SQL | undefined, values: LeaseRowValues): Promise<InstanceRow | undefined>;
  time<T>(step: keyof StepTimings, work: () => Promise<T>): Promise<T>;
}

export type LeaseRowValues = Partial<NewInstanceRow> & { leaseStep?: OperationStep };

/** The context of an operation that mints (`mints: true`): the key ring was checked before any work. */
export interface MintingOperationContext extends OperationContext {
  keyRing: KeyRing;
}

export interface OperationResult {
  /** Final values written together with the lease release. */
  values: Partial<NewInstanceRow>;
  outcome?: "success" | "noop";
  details?: Record<string, unknown>;
  /**
   * Runs in the transaction that releases the lease, so it commits (or not) with the final values:
   * destroy's NOTIFY, which other replicas must not act on before the destroy is visible.
   */
  withRelease?: (tx: Database) => Promise<void>;
}

export interface OperationInput {
  instanceId: string;
  operation: LifecycleOperation;
  actor: Actor;
  /** Scopes the operation to this owner's instances (user callers): others are 404. */
  ownerId?: string;
  /** The step shown from the moment the lease is taken (saves a write for the first step). */
  firstStep?: OperationStep;
  /**
   * The operation mints a key: without the signing secret it fails `misconfigured` before any
   * work (no rate-limit charge, no lease), and its body gets the checked key ring.
   */
  mints?: boolean;
  /** What the caller records with the operation's outcome (see OperationCommit). */
  commit?: OperationCommit;
}

/**
 * Runs one lifecycle operation under the instance's operation lease and records it in the audit
 * log: a success's event commits with the lease release, a failure's is written just after it
 * (retried while the database is away). A concurrent caller gets `operation_in_progress`; a
 * failure releases the lease with the error recorded and the status re-derived from the machine
 * when one was touched, or left as it was when none was. Machine failures surface as
 * `machine_error` (502). The scheduler passes a lease it already claimed (`claimedLease`) instead
 * of taking one here.
 *
 * Fencing: a heartbeat renews the lease every third of its TTL and every machine write renews it
 * first; once a renewal finds the lease gone (or none has succeeded for a whole TTL), the operation
 * makes no further machine call and fails `operation_in_progress`. A machine that moved on under
 * it (Fly's 409 on `current_version`) fails the same way, never with a second write. Taking over an
 * expired lease records an `operation_interrupted` event naming the operation that died.
 */
export function runOperation(
  input: OperationInput & { mints: true },
  deps: LifecycleDeps,
  body: (context: MintingOperationContext) => Promise<OperationResult>,
  options?: { claimedLease?: Lease },
): Promise<InstanceRow>;
export function runOperation(
  input: OperationInput & { mints?: false },
  deps: LifecycleDeps,
  body: (context: OperationContext) => Promise<OperationResult>,
  options?: { claimedLease?: Lease },
): Promise<InstanceRow>;
export async function runOperation(
  input: OperationInput,
  deps: LifecycleDeps,
  body: (context: MintingOperationContext) => Promise<OperationResult>,
  options: { claimedLease?: Lease } = {},
): Promise<InstanceRow> {
  const started = performance.now();
  const keyRing = input.mints ? assertKeyRing(deps.keyRing) : undefined;
  // A signed-in user's create/start/stop/redeploy calls are rate limited (429 before the lease).
  await consumeUserOperation(deps.db, deps.limits, input.actor, deps.now());
  const lease =
    options.claimedLease ??
    (await acquireLease(deps.db, {
      instanceId: input.instanceId,
      operation: input.operation,
      ownerId: input.ownerId,
      ttlMs: deps.timeouts.leaseMs,
      step: input.firstStep,
    }));
  const fence = createLeaseFence(deps.db, lease);
  const context: OperationContext & { keyRing?: KeyRing } = {
    lease,
    deps: { ...deps, machines: fenceMachineProvider(deps.machines, fence) },
    actor: input.actor,
    timings: {},
    machineTouched: false,
    machineId: lease.row.machineId,
    key: {},
    failureValues: {},
    update: (values) => updateUnderLease(deps.db, lease, values),
    updateIf: (condition, values) => updateUnderLeaseIf(deps.db, lease, condition, values),
    async time(step, work) {
      const stepStarted = performance.now();
      try {
        return await work();
      } finally {
        context.timings[step] = (context.timings[step] ?? 0) + (performance.now() - stepStarted);
      }
    },
  };
  const event = {
    instanceId: lease.instanceId,
    userId: lease.row.ownerId,
    actor: input.actor,
    action: input.operation,
  };

  // Only a minting operation's body is typed to read it (the overloads above).
  if (keyRing) context.keyRing = keyRing;
  if (lease.interrupted) await recordInterruption(deps, lease, input.actor);

  // A step may run longer than the lease (slow provider, retries): keep renewing it meanwhile, so
  // only a dead replica's lease expires. A renewal that finds the lease gone fences the operation.
  const heartbeat = setInterval(() => {
    if (fence.lost) return;
    fence.renew().catch((error: unknown) => logger.warn("could not renew an operation lease", { instanceId: lease.instanceId, error }));
  }, Math.max(500, lease.ttlMs / 3));
  heartbeat.unref();

  const logContext = { instanceId: lease.instanceId, operation: input.operation };
  try {
    const result = await body(context as MintingOperationContext);
    const final = { ...result.values, lastActivityAt: deps.now() };
    const successEvent = () =>
      ({
        ...event,
        outcome: result.outcome ?? "success",
        keySource: context.key.source,
        keyId: context.key.keyId,
        durationMs: performance.now() - started,
        details: { timings: roundTimings(context.timings), ...input.commit?.details, ...result.details },
      }) as const;
    const withRelease = withSuccessRecorded(input.commit, successEvent, withSupersededKeysAnnounced(result, lease.instanceId));
    const row = await deps.db.transaction(async (tx) => {
      const released = await releaseLease(tx, lease, final);
      if (released) await withRelease(tx);
      return released;
    });
    if (!row) throw lostLeaseError();
    // This process drops the instance's cached keys at once; other replicas hear the NOTIFY.
    if (result.values.deployedKeyId !== undefined) deps.keyStateCache?.invalidate({ instanceId: lease.instanceId });
    recordOperation(input.operation, result.outcome ?? "success", performance.now() - started);
    return row;
  } catch (thrown) {
    const error = toAppError(thrown);
    recordOperation(input.operation, "failure", performance.now() - started, error);
    const observed = context.machineTouched ? await observeMachine(deps, context.machineId) : { status: lease.row.status };
    const failure = {
      ...context.failureValues,
      ...observed,
      lastErrorCode: error.code,
      lastErrorMessage: error.message,
      lastErrorAt: deps.now(),
    };
    const failureEvent = {
      ...event,
      outcome: "failure",
      keySource: context.key.source,
      keyId: context.key.keyId,
      errorCode: error.code,
      errorMessage: error.message,
      durationMs: performance.now() - started,
      details: { timings: roundTimings(context.timings), ...input.commit?.details, ...(error.details ?? {}) },
    } as const;
    // Tried at once; while the database is unavailable, retried in order in the background with
    // capped backoff, so the lease is free seconds after it returns (not after the lease TTL) and
    // the audit event is not lost. The caller gets its error now.
    await completeDurably(
      [
        { label: "release an operation lease", write: () => releaseLease(deps.db, lease, failure) },
        { label: "record an operation event", write: () => recordInstanceEvent(deps.db, failureEvent) },
      ],
      logContext,
    );
    throw error;
  } finally {
    clearInterval(heartbeat);
  }
}

/**
 * A new deployed key supersedes the one before it: every replica's whoami must refuse the old key
 * from the moment the release commits. The NOTIFY goes into the release's transaction (so no
 * replica reloads the row before it changes, and none misses the change), with whatever else the
 * operation commits with its release.
 */
function withSupersededKeysAnnounced(result: OperationResult, instanceId: string): OperationResult["withRelease"] {
  if (result.values.deployedKeyId === undefined) return result.withRelease;
  return async (tx) => {
    await notifyKeyStateChanged(tx, { instanceId });
    await result.withRelease?.(tx);
  };
}

/**
 * The caller's record and the success event go into the release's transaction, after what the
 * operation commits there: an operation that ended always has its event, whenever the process dies.
 */
function withSuccessRecorded(
  commit: OperationCommit | undefined,
  successEvent: () => InstanceEventInput & { outcome: "success" | "noop" },
  withRelease: OperationResult["withRelease"],
): (tx: Database) => Promise<void> {
  return async (tx) => {
    await withRelease?.(tx);
    const event = successEvent();
    await commit?.write(tx, event.outcome);
    await recordInstanceEvent(tx, event);
  };
}

function roundTimings(timings: StepTimings): Record<string, number> {
  return Object.fromEntries(Object.entries(timings).map(([step, ms]) => [step, Math.round(ms * 100) / 100]));
}

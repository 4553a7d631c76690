import type { InstanceRow, InstanceStatus, KeySource, NewInstanceRow } from "@/db/schema";
import { recordInstanceEvent, type Actor } from "@/lib/audit/events";
import { AppError, isAppError } from "@/lib/errors";
import { consumeUserOperation } from "@/lib/limits/rate-limit";
import { logger } from "@/lib/logger";
import { isMachineError, type MachineError } from "@/lib/machines/types";
import type { LifecycleDeps } from "./deps";
import { acquireLease, lostLeaseError, releaseLease, renewLease, updateUnderLease, type Lease, type LifecycleOperation, type OperationStep } from "./lease";
import { statusFromMachineState } from "./machine-status";

/** Where an operation's time went, recorded on its audit event (and read by the benchmark). */
export type StepTimings = Partial<Record<"mint" | "persist" | "machine" | "wait" | "credential", number>>;

export interface OperationContext {
  lease: Lease;
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
  setStep(step: OperationStep, values?: Partial<NewInstanceRow>): Promise<InstanceRow>;
  time<T>(step: keyof StepTimings, work: () => Promise<T>): Promise<T>;
}

export interface OperationResult {
  /** Final values written together with the lease release. */
  values: Partial<NewInstanceRow>;
  outcome?: "success" | "noop";
  details?: Record<string, unknown>;
}

export interface OperationInput {
  instanceId: string;
  operation: LifecycleOperation;
  actor: Actor;
  /** Scopes the operation to this owner's instances (user callers): others are 404. */
  ownerId?: string;
  /** The step shown from the moment the lease is taken (saves a write for the first step). */
  firstStep?: OperationStep;
}

/**
 * Runs one lifecycle operation under the instance's operation lease and records it in the audit
 * log. A concurrent caller gets `operation_in_progress`; a failure releases the lease with the
 * error recorded and the status re-derived from the machine when one was touched, or left as it
 * was when none was. Machine failures surface as `machine_error` (502). The scheduler passes a
 * lease it already claimed (`claimedLease`) instead of taking one here.
 */
export async function runOperation(
  input: OperationInput,
  deps: LifecycleDeps,
  body: (context: OperationContext) => Promise<OperationResult>,
  options: { claimedLease?: Lease } = {},
): Promise<InstanceRow> {
  const started = performance.now();
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
  const context: OperationContext = {
    lease,
    deps,
    actor: input.actor,
    timings: {},
    machineTouched: false,
    machineId: lease.row.machineId,
    key: {},
    failureValues: {},
    setStep: (step, values = {}) => updateUnderLease(deps.db, lease, { ...values, leaseStep: step }),
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

  // A step may run longer than the lease (slow provider, retries): keep renewing it meanwhile, so
  // only a crashed replica's lease ever expires.
  const heartbeat = setInterval(() => {
    renewLease(deps.db, lease).catch(() => {});
  }, Math.max(1_000, lease.ttlMs / 3));
  heartbeat.unref();

  try {
    const result = await body(context);
    const now = deps.now();
    const row = await releaseLease(deps.db, lease, { ...result.values, lastActivityAt: now });
    if (!row) throw lostLeaseError();
    await recordInstanceEvent(deps.db, {
      ...event,
      outcome: result.outcome ?? "success",
      keySource: context.key.source,
      keyId: context.key.keyId,
      durationMs: performance.now() - started,
      details: { timings: roundTimings(context.timings), ...result.details },
    });
    return row;
  } catch (thrown) {
    const error = toAppError(thrown);
    const status = context.machineTouched ? await observedStatus(context) : lease.row.status;
    await releaseLease(deps.db, lease, {
      ...context.failureValues,
      status,
      lastErrorCode: error.code,
      lastErrorMessage: error.message,
      lastErrorAt: deps.now(),
    }).catch((releaseError: unknown) => logger.error("could not release an operation lease", { instanceId: lease.instanceId, error: releaseError }));
    await recordInstanceEvent(deps.db, {
      ...event,
      outcome: "failure",
      keySource: context.key.source,
      keyId: context.key.keyId,
      errorCode: error.code,
      errorMessage: error.message,
      durationMs: performance.now() - started,
      details: { timings: roundTimings(context.timings), ...(error.details ?? {}) },
    }).catch((eventError: unknown) => logger.error("could not record an operation event", { instanceId: lease.instanceId, error: eventError }));
    throw error;
  } finally {
    clearInterval(heartbeat);
  }
}

/** After a failed machine step: what the provider says the machine is doing now. */
async function observedStatus(context: OperationContext): Promise<InstanceStatus> {
  const machineId = context.machineId;
  if (!machineId) return "failed";
  try {
    const machine = await context.deps.machines.get(machineId);
    return statusFromMachineState(machine.state);
  } catch {
    return "failed";
  }
}

export function toAppError(error: unknown): AppError {
  if (isAppError(error)) return error;
  if (isMachineError(error)) return machineAppError(error);
  logger.error("unexpected error in a lifecycle operation", { error });
  return new AppError("internal_error", "The operation failed unexpectedly.");
}

function machineAppError(error: MachineError): AppError {
  const prefix: Record<MachineError["kind"], string> = {
    not_found: "The instance's machine no longer exists",
    capacity: "The machine provider has no capacity in this region right now",
    rate_limited: "The machine provider is rate-limiting requests; try again shortly",
    timeout: "The machine did not respond in time",
    upstream: "The machine provider reported an error",
  };
  return new AppError("machine_error", `${prefix[error.kind]}: ${error.message}`, { machineErrorKind: error.kind });
}

function roundTimings(timings: StepTimings): Record<string, number> {
  return Object.fromEntries(Object.entries(timings).map(([step, ms]) => [step, Math.round(ms * 100) / 100]));
}

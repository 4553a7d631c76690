import { recordInstanceEvent, type Actor } from "@/lib/audit/events";
import { logger } from "@/shared/logger";
import type { LifecycleDeps } from "./deps";
import type { Lease } from "./lease";

/** The audit trace of a takeover: which operation died (or stalled) holding the lease, and at which step. */
export async function recordInterruption(deps: LifecycleDeps, lease: Lease, actor: Actor): Promise<void> {
  const interrupted = lease.interrupted!;
  await recordInstanceEvent(deps.db, {
    instanceId: lease.instanceId,
    userId: lease.row.ownerId,
    actor,
    action: "operation_interrupted",
    outcome: "failure",
    errorCode: "operation_interrupted",
    errorMessage: `The ${interrupted.operation} operation stopped at ${interrupted.step ?? "an unknown step"} without finishing (its lease expired); ${lease.operation} took the instance over.`,
    details: {
      interruptedOperation: interrupted.operation,
      interruptedStep: interrupted.step,
      leaseExpiredAt: interrupted.leaseExpiredAt?.toISOString() ?? null,
      takenOverBy: lease.operation,
    },
  }).catch((error: unknown) => logger.error("could not record an interrupted operation", { instanceId: lease.instanceId, error }));
}

/**
 * The lifecycle operations and the steps each one shows while it runs: the one list the server
 * records (`lease_operation`, `lease_step`) and the progress UI renders, so a renamed step is a type
 * error in the UI rather than an "Unknown" on screen. Imports nothing: client code uses it too.
 */

export const LIFECYCLE_OPERATIONS = ["start", "stop", "redeploy", "destroy", "refresh"] as const;
export type LifecycleOperation = (typeof LIFECYCLE_OPERATIONS)[number];

export const OPERATION_STEPS = [
  "queued",
  "minting_key",
  "updating_machine",
  "waiting_for_start",
  "verifying_credential",
  "stopping_machine",
  "destroying_machine",
] as const;
/** Human-readable progress of the running operation, shown by the dashboard while it polls. */
export type OperationStep = (typeof OPERATION_STEPS)[number];

const DEPLOY_STEPS = ["minting_key", "updating_machine", "waiting_for_start", "verifying_credential"] as const;

/** The steps each operation goes through, in order (`queued` precedes any of them). */
export const STEPS_OF_OPERATION: Record<LifecycleOperation, readonly OperationStep[]> = {
  start: DEPLOY_STEPS,
  redeploy: DEPLOY_STEPS,
  refresh: ["minting_key", "updating_machine", "verifying_credential"],
  stop: ["stopping_machine"],
  destroy: ["destroying_machine"],
};

import type { InstanceRow } from "@/db/schema";
import type { Actor, OperationCommit } from "@/lib/audit/events";
import type { LifecycleDeps } from "./deps";
import { deployWithFreshKey } from "./deploy";
import { runOperation } from "./operation";

export interface InstanceOperationInput {
  instanceId: string;
  actor: Actor;
  /** Set for user callers: the operation only sees that user's instances (others are 404). */
  ownerId?: string;
  /** A record the caller commits with the outcome, in the lease release's transaction (fleet job items). */
  commit?: OperationCommit;
}

/**
 * Starts the instance with a freshly minted key (see deployWithFreshKey). On an instance that is
 * already running it is a no-op: no mint, no machine call, a `noop` event (unless it takes over an
 * interrupted operation's lease: then it deploys afresh). Repeat calls are safe;
 * a concurrent operation makes it fail `operation_in_progress`.
 */
export async function startInstance(input: InstanceOperationInput, deps: LifecycleDeps): Promise<InstanceRow> {
  return runOperation({ ...input, operation: "start", firstStep: "minting_key", mints: true }, deps, async (context) => {
    const { row, interrupted } = context.lease;
    // A start that takes over an interrupted operation cannot trust `running`: the dead operation
    // sets it before the gateway confirmed the new key (a fleet job retrying its item lands here).
    if (row.status === "running" && row.machineId && !interrupted) return { values: {}, outcome: "noop" };
    return deployWithFreshKey(context, "starting");
  });
}

import type { InstanceRow } from "@/db/schema";
import { isMachineError } from "@/lib/machines/types";
import type { LifecycleDeps } from "./deps";
import { runOperation } from "./operation";
import type { InstanceOperationInput } from "./start";

/**
 * Stops the instance's machine and waits until it has stopped. A no-op on a stopped instance.
 * A machine that no longer exists counts as stopped (the next start creates a new one).
 */
export async function stopInstance(input: InstanceOperationInput, deps: LifecycleDeps): Promise<InstanceRow> {
  return runOperation({ ...input, operation: "stop" }, deps, async (context) => {
    const { row } = context.lease;
    const { machines } = context.deps;
    if (row.status === "stopped" || row.status === "provisioned") return { values: {}, outcome: "noop" };
    if (!row.machineId) return { values: { status: "stopped" } };

    await context.update({ leaseStep: "stopping_machine", status: "stopping" });
    context.machineTouched = true;
    try {
      await context.time("machine", () => machines.stop(row.machineId!));
      await context.time("wait", () => machines.waitForState(row.machineId!, "stopped", { timeoutMs: deps.timeouts.machineWaitMs }));
    } catch (error) {
      if (!(isMachineError(error) && error.kind === "not_found")) throw error;
      return { values: { status: "stopped", machineId: null, machineVersion: null, statusCheckedAt: deps.now() }, details: { machineMissing: true } };
    }
    return { values: { status: "stopped", statusCheckedAt: deps.now() } };
  });
}

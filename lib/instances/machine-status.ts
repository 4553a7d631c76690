import type { InstanceStatus } from "@/db/schema";
import type { MachineState } from "@/lib/machines/types";
import type { LifecycleDeps } from "./deps";

/** What a machine's provider state means for the instance's lifecycle status. */
export function statusFromMachineState(state: MachineState): InstanceStatus {
  switch (state) {
    case "started":
      return "running";
    case "starting":
      return "starting";
    case "stopping":
      return "stopping";
    case "created":
    case "stopped":
    case "suspended":
      return "stopped";
    case "replacing":
      return "restarting";
    case "destroying":
      return "destroying";
    case "destroyed":
    case "failed":
      return "failed";
  }
}

/**
 * After a failed machine step: what the provider says the machine is doing now, and its version, so
 * the next operation's writes expect the version the machine really has (after a 409, say). Read
 * with the unfenced provider: the release it feeds is conditional on the lease anyway.
 */
export async function observeMachine(deps: LifecycleDeps, machineId: string | null): Promise<{ status: InstanceStatus; machineVersion?: string }> {
  if (!machineId) return { status: "failed" };
  try {
    const machine = await deps.machines.get(machineId);
    return { status: statusFromMachineState(machine.state), machineVersion: machine.version };
  } catch {
    return { status: "failed" };
  }
}

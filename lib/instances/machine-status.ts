import type { InstanceStatus } from "@/db/schema";
import type { MachineState } from "@/lib/machines/types";

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

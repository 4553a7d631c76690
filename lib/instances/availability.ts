import type { InstanceStatusDto } from "./dto";

/**
 * What the UI offers on an instance, from its status alone: the same rules for the owner's
 * dashboard and the admin views. Imports only types, so client components use it too; the
 * lifecycle functions decide for themselves (a Start on a running instance is a no-op there).
 */

type Status = InstanceStatusDto["status"];

const STARTABLE = new Set<Status>(["provisioned", "stopped", "failed"]);
const STOPPABLE = new Set<Status>(["running", "starting", "restarting"]);
const TRANSITIONAL = new Set<Status>(["starting", "stopping", "restarting", "destroying"]);

/** Start is offered: the instance has never run, was stopped, or failed. */
export function canStart(status: Status): boolean {
  return STARTABLE.has(status);
}

/** Stop is offered: the machine runs or is on its way up. */
export function canStop(status: Status): boolean {
  return STOPPABLE.has(status);
}

/** The instance is gone or going: it offers no controls at all. */
export function isGone(status: Status): boolean {
  return status === "destroyed" || status === "destroying";
}

/** An operation is in flight on the instance, or its machine is between states (its controls wait). */
export function isChanging(instance: Pick<InstanceStatusDto, "status" | "operation">): boolean {
  return instance.operation !== null || TRANSITIONAL.has(instance.status);
}

/**
 * The Machines API operations (Fly's `operationId`s) the Fly provider calls: what the local machine
 * service serves and what the test fake of Fly implements from the OpenAPI description.
 */
export const FLY_MACHINE_OPERATIONS = [
  "Machines_list",
  "Machines_create",
  "Machines_show",
  "Machines_update",
  "Machines_delete",
  "Machines_start",
  "Machines_stop",
  "Machines_wait",
] as const;

export type FlyMachineOperation = (typeof FLY_MACHINE_OPERATIONS)[number];

import { z } from "zod";
import { keyHealthValues } from "@/lib/instances/schemas";

export const fleetSortValues = ["deployedKeyExpiresAt", "keyExpiresAt", "lastActivityAt", "status"] as const;
export type FleetSort = (typeof fleetSortValues)[number];

/** The lifecycle states (db/schema/instances.ts; lib/admin/fleet.ts checks at compile time that they match). */
export const instanceStatusValues = [
  "provisioned",
  "starting",
  "running",
  "stopping",
  "stopped",
  "restarting",
  "destroying",
  "destroyed",
  "failed",
] as const;

/** Query of `GET /api/admin/instances`. `keyHealth` and `status` repeat or take comma-separated values. */
export const fleetQuerySchema = z.strictObject({
  keyHealth: z
    .array(z.enum(keyHealthValues))
    .max(keyHealthValues.length)
    .optional()
    .meta({ description: "Only instances whose key health is one of these (repeat the parameter or separate values with commas)." }),
  status: z
    .array(z.enum(instanceStatusValues))
    .max(instanceStatusValues.length)
    .optional()
    .meta({ description: "Only instances in one of these states (repeat or comma-separate). Destroyed instances are listed only when asked for." }),
  owner: z
    .email({ message: "owner is the owner's email address" })
    .trim()
    .toLowerCase()
    .optional()
    .meta({ description: "Only the instances of the user with this email address." }),
  sort: z.enum(fleetSortValues).default("deployedKeyExpiresAt").meta({ description: "Sort column (ties broken by id)." }),
  order: z.enum(["asc", "desc"]).default("asc"),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z
    .string()
    .max(512)
    .optional()
    .meta({ description: "`nextCursor` of the previous page; use it with the same sort and order." }),
});

export type FleetQuery = z.infer<typeof fleetQuerySchema>;

/** Query of `GET /api/admin/instances/{id}/events`. */
export const instanceEventsQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

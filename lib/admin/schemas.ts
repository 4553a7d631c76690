import { z } from "zod";
import { keyHealthValues } from "@/lib/instances/schemas";
import { hasControlCharacters, NO_CONTROL_CHARACTERS } from "@/lib/validation/text";

export const fleetSortValues = ["deployedKeyExpiresAt", "keyExpiresAt", "lastActivityAt", "status", "owner"] as const;
export type FleetSort = (typeof fleetSortValues)[number];

/** The lifecycle states (db/schema/instances.ts; lib/admin/fleet-page.ts checks at compile time that they match). */
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

export const OWNER_SEARCH_MAX_LENGTH = 254;

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
  ownerSearch: z
    .string()
    .trim()
    .toLowerCase()
    .min(1)
    .max(OWNER_SEARCH_MAX_LENGTH)
    .refine((value) => !hasControlCharacters(value), NO_CONTROL_CHARACTERS)
    .optional()
    .meta({ description: "Only the instances of users whose email address starts with this text (case-insensitive)." }),
  sort: z
    .enum(fleetSortValues)
    .default("deployedKeyExpiresAt")
    .meta({ description: "Sort column (ties broken by id). `owner` sorts by the owner's email address." }),
  order: z.enum(["asc", "desc"]).default("asc"),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z
    .string()
    .max(512)
    .refine((value) => !hasControlCharacters(value), NO_CONTROL_CHARACTERS)
    .optional()
    .meta({ description: "`nextCursor` of the previous page; use it with the same sort and order." }),
});

export type FleetQuery = z.infer<typeof fleetQuerySchema>;

/** Query of `GET /api/admin/instances/{id}/events`. */
export const instanceEventsQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/** The filters of a fleet query, without sort or paging: what a bulk operation over "all matching" resolves. */
export const fleetFilterSchema = fleetQuerySchema.pick({ keyHealth: true, status: true, owner: true, ownerSearch: true });
export type FleetFilter = z.infer<typeof fleetFilterSchema>;

/** Bulk redeploy: the confirmation lists at most this many of the instances a filter matches. */
export const BULK_REDEPLOY_MAX = 500;

/** Which NEXTAUTH_SECRET signed a running instance's deployed key (the rotation view's counts). */
export const deployedSignerValues = ["current", "previous", "retired", "unrecorded"] as const;
export type DeployedSigner = (typeof deployedSignerValues)[number];

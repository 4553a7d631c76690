import { z } from "zod";
import { fleetFilterSchema, fleetSortValues } from "@/lib/admin/schemas";

export const fleetJobKindValues = ["redeploy", "start", "stop", "revoke_keys"] as const;
export type FleetJobKindValue = (typeof fleetJobKindValues)[number];
export const fleetJobStateValues = ["running", "paused", "cancelled", "finished"] as const;
export const fleetJobItemStateValues = ["pending", "running", "succeeded", "noop", "failed", "cancelled"] as const;
export type FleetJobItemStateValue = (typeof fleetJobItemStateValues)[number];

/** Explicit ids per request: a body stays under the 64 KiB limit; "everything matching" has no cap. */
export const FLEET_JOB_MAX_EXPLICIT_IDS = 1_000;

/** What a job acts on, chosen by the admin; a filter is resolved once, at creation, to a fixed list. */
export const fleetJobSelectionSchema = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("instances"),
    ids: z.array(z.uuid()).min(1).max(FLEET_JOB_MAX_EXPLICIT_IDS).meta({ description: "Instance ids (unknown and destroyed ones are left out)." }),
  }),
  z.strictObject({
    type: z.literal("owners"),
    ids: z.array(z.uuid()).min(1).max(FLEET_JOB_MAX_EXPLICIT_IDS).meta({ description: "User ids; only for `revoke_keys`." }),
  }),
  z.strictObject({
    type: z.literal("filter"),
    filter: fleetFilterSchema.meta({ description: "The fleet view's filters: every live instance matching them now." }),
    sort: z.enum(fleetSortValues).default("deployedKeyExpiresAt"),
    order: z.enum(["asc", "desc"]).default("asc"),
  }),
]);
export type FleetJobSelection = z.infer<typeof fleetJobSelectionSchema>;

/** Body of `POST /api/admin/jobs`. */
export const createFleetJobBodySchema = z
  .strictObject({
    kind: z.enum(fleetJobKindValues).meta({ description: "`revoke_keys` rotates the pepper of each owner (of the selected instances, or the selected owners)." }),
    selection: fleetJobSelectionSchema,
  })
  .refine((body) => body.kind === "revoke_keys" || body.selection.type !== "owners", {
    message: "An owner selection is only for revoke_keys",
    path: ["selection", "type"],
  });
export type CreateFleetJobInput = z.infer<typeof createFleetJobBodySchema>;

/** Query of `GET /api/admin/jobs`. */
export const listFleetJobsQuerySchema = z.strictObject({
  state: z.array(z.enum(fleetJobStateValues)).max(fleetJobStateValues.length).optional().meta({ description: "Only jobs in one of these states (repeat or comma-separate)." }),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.uuid().optional().meta({ description: "`nextCursor` of the previous page." }),
});
export type ListFleetJobsQuery = z.infer<typeof listFleetJobsQuerySchema>;

/** Query of `GET /api/admin/jobs/{id}`: one page of its items, in job order. */
export const fleetJobItemsQuerySchema = z.strictObject({
  state: z.array(z.enum(fleetJobItemStateValues)).max(fleetJobItemStateValues.length).optional().meta({ description: "Only items in one of these states." }),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.coerce.number().int().min(0).max(2_000_000_000).optional().meta({ description: "`nextCursor` of the previous page (an item position)." }),
});
export type FleetJobItemsQuery = z.infer<typeof fleetJobItemsQuerySchema>;

/** Items a job's page shows (the API pages them; this many fit one view). */
export const JOB_PAGE_ITEMS = 500;

export const fleetJobParamsSchema = z.object({ id: z.uuid() });

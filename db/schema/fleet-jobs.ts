import { sql } from "drizzle-orm";
import { bigserial, index, integer, jsonb, pgEnum, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { users } from "./users";

export const fleetJobKind = pgEnum("fleet_job_kind", ["redeploy", "start", "stop", "revoke_keys"]);

/** `running` jobs are worked; `paused` ones keep their items until resumed; the other two are final. */
export const fleetJobState = pgEnum("fleet_job_state", ["running", "paused", "cancelled", "finished"]);

export const fleetJobItemState = pgEnum("fleet_job_item_state", ["pending", "running", "succeeded", "noop", "failed", "cancelled"]);

/**
 * A bulk operation an admin started over a fixed list of targets (instances, or owners for
 * `revoke_keys`), worked server-side by any replica's scheduler (lib/fleet-jobs).
 */
export const fleetJobs = pgTable(
  "fleet_jobs",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    kind: fleetJobKind("kind").notNull(),
    state: fleetJobState("state").notNull().default("running"),
    /** The admin who started it; their id is the actor of every item's audit event. */
    createdBy: uuid("created_by").references(() => users.id, { onDelete: "set null" }),
    /** How the targets were chosen (explicit ids or the fleet filter), as the admin asked. */
    selection: jsonb("selection").$type<Record<string, unknown>>().notNull(),
    totalItems: integer("total_items").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
  },
  (table) => [
    index("fleet_jobs_created_idx").on(table.createdAt, table.id),
    index("fleet_jobs_active_idx").on(table.state).where(sql`${table.state} in ('running', 'paused')`),
  ],
);

/**
 * One target of a fleet job. A worker claims it (`claim_token`, `claim_expires_at`, renewed while
 * it runs); a claim that runs out belongs to a replica that died, and the item is claimed again.
 */
export const fleetJobItems = pgTable(
  "fleet_job_items",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    jobId: uuid("job_id")
      .notNull()
      .references(() => fleetJobs.id, { onDelete: "cascade" }),
    /** Order within the job (the fleet view's order at creation). */
    position: integer("position").notNull(),
    /** An instance id, or a user id for `revoke_keys`. No foreign key: the job outlives its targets. */
    targetId: uuid("target_id").notNull(),
    state: fleetJobItemState("state").notNull().default("pending"),
    /** A pending item is not claimed before this (set when its instance was busy). */
    notBefore: timestamp("not_before", { withTimezone: true }).notNull().defaultNow(),
    claimToken: uuid("claim_token"),
    claimExpiresAt: timestamp("claim_expires_at", { withTimezone: true }),
    attempts: integer("attempts").notNull().default(0),
    errorCode: text("error_code"),
    errorMessage: text("error_message"),
    startedAt: timestamp("started_at", { withTimezone: true }),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
  },
  (table) => [
    index("fleet_job_items_job_idx").on(table.jobId, table.position),
    index("fleet_job_items_open_idx").on(table.jobId, table.state, table.notBefore).where(sql`${table.state} in ('pending', 'running')`),
    // The claim walks a running job's pending items in order, and running items by claim expiry.
    index("fleet_job_items_pending_idx").on(table.jobId, table.id).where(sql`${table.state} = 'pending'`),
    index("fleet_job_items_claim_expiry_idx").on(table.claimExpiresAt).where(sql`${table.state} = 'running'`),
  ],
);

export type FleetJobRow = typeof fleetJobs.$inferSelect;
export type FleetJobItemRow = typeof fleetJobItems.$inferSelect;
export type FleetJobKind = (typeof fleetJobKind.enumValues)[number];
export type FleetJobState = (typeof fleetJobState.enumValues)[number];
export type FleetJobItemState = (typeof fleetJobItemState.enumValues)[number];

import { bigserial, index, integer, jsonb, pgEnum, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { keySource } from "./instances";

export const actorType = pgEnum("actor_type", ["user", "admin", "internal", "scheduler", "system"]);

export const eventOutcome = pgEnum("event_outcome", ["success", "failure", "noop"]);

/**
 * Append-only audit log of every lifecycle operation and key event. Never holds key material:
 * keys appear only by their short key id.
 */
export const instanceEvents = pgTable(
  "instance_events",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    /**
     * The instance the event concerns. No foreign key: the audit log outlives the instance row and
     * its owner (deleting either leaves the events; the retention pass prunes them by age).
     */
    instanceId: uuid("instance_id"),
    /**
     * The user the event concerns (the owner), also set for account-level events such as rotation.
     * Deliberately no foreign key: writing an event must not need a lock on `users`, which may be
     * exactly what is unavailable when an operation falls back to the stored key.
     */
    userId: uuid("user_id"),
    actorType: actorType("actor_type").notNull(),
    actorId: text("actor_id"),
    action: text("action").notNull(),
    outcome: eventOutcome("outcome").notNull(),
    keySource: keySource("key_source"),
    keyId: text("key_id"),
    errorCode: text("error_code"),
    errorMessage: text("error_message"),
    durationMs: integer("duration_ms"),
    /** Step timings and other non-secret detail. */
    details: jsonb("details").$type<Record<string, unknown>>(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    index("instance_events_instance_idx").on(table.instanceId, table.id),
    index("instance_events_user_idx").on(table.userId, table.id),
    // The retention pass deletes by age.
    index("instance_events_created_at_idx").on(table.createdAt),
  ],
);

export type InstanceEventRow = typeof instanceEvents.$inferSelect;
export type NewInstanceEventRow = typeof instanceEvents.$inferInsert;

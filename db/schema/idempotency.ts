import { index, integer, jsonb, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";

/**
 * Idempotency keys of internal API calls (`Idempotency-Key` header). A key is claimed by inserting
 * its row in the same transaction as the work it protects, so a retried or concurrent call with the
 * same key either waits for the first one and replays its stored response, or (when the first one
 * failed and rolled back) does the work itself. Responses hold DTOs only, never key material.
 */
export const idempotencyKeys = pgTable(
  "idempotency_keys",
  {
    /** The operation the key belongs to, e.g. `platform.provision`. */
    scope: text("scope").notNull(),
    key: text("key").notNull(),
    /** SHA-256 of the canonical request; the same key with another request is refused. */
    requestHash: text("request_hash").notNull(),
    /** What the call created (the instance), for support and later clean-up. */
    resourceId: uuid("resource_id"),
    responseStatus: integer("response_status").notNull(),
    responseBody: jsonb("response_body").$type<unknown>().notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    primaryKey({ columns: [table.scope, table.key] }),
    // Pruning old keys (a later job) deletes by age.
    index("idempotency_keys_created_at_idx").on(table.createdAt),
  ],
);

export type IdempotencyKeyRow = typeof idempotencyKeys.$inferSelect;

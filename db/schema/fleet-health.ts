import { bigint, bigserial, boolean, index, pgTable, text, uuid } from "drizzle-orm/pg-core";
import { instanceStatus } from "./instances";

/**
 * Live instances counted by everything their key health depends on except the clock, the key ring
 * and the owner's pepper: an append-only log of +n/−n rows written by statement-level triggers on
 * `instances` (migration 0006's SQL), summed at read time and compacted now and then
 * (lib/admin/health-counts.ts). Appends never wait on each other, so the triggers add no lock
 * between writers. The expiry is kept as a 15-minute bucket: the admin overview classifies whole
 * buckets and reads only the rows in the few buckets a threshold falls in.
 */
export const fleetHealthCounts = pgTable("fleet_health_counts", {
  id: bigserial("id", { mode: "number" }).primaryKey(),
  status: instanceStatus("status").notNull(),
  /** `key_revoked_at is not null`. */
  revoked: boolean("revoked").notNull(),
  keySigningKid: text("key_signing_kid"),
  deployedKeySigningKid: text("deployed_key_signing_kid"),
  /** The latest minted key is not the deployed one (`key_id` set and different). */
  undeployed: boolean("undeployed").notNull(),
  /** floor(epoch seconds of coalesce(deployed, latest) key expiry / 900); null: no expiry recorded. */
  expiryBucket: bigint("expiry_bucket", { mode: "number" }),
  deployedExpiryNull: boolean("deployed_expiry_null").notNull(),
  n: bigint("n", { mode: "number" }).notNull(),
});

/**
 * Owners whose instances may hold a key minted under a pepper that is no longer theirs (their
 * pepper changed, or a key was stored with another fingerprint): the overview re-checks their
 * instances against the users table. Append-only, duplicates allowed, so no writer waits on another.
 */
export const fleetPepperRecheck = pgTable(
  "fleet_pepper_recheck",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    ownerId: uuid("owner_id").notNull(),
  },
  (table) => [index("fleet_pepper_recheck_owner_idx").on(table.ownerId)],
);


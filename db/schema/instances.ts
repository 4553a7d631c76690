import { sql } from "drizzle-orm";
import { index, integer, pgEnum, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { users } from "./users";

export const instanceStatus = pgEnum("instance_status", [
  "provisioned",
  "starting",
  "running",
  "stopping",
  "stopped",
  "restarting",
  "destroying",
  "destroyed",
  "failed",
]);

export const machineProviderName = pgEnum("machine_provider", ["local", "fly"]);

export const keySource = pgEnum("key_source", ["minted", "fallback"]);

export const instances = pgTable(
  "instances",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    ownerId: uuid("owner_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    status: instanceStatus("status").notNull().default("provisioned"),
    provider: machineProviderName("provider").notNull(),
    machineId: text("machine_id"),
    /** The provider's config version of the machine, as last seen (Fly's `instance_id`). */
    machineVersion: text("machine_version"),
    region: text("region").notNull(),
    imageTag: text("image_tag").notNull(),

    // Latest minted key: written before the machine update (persist, then deploy).
    /** AES-256-GCM ciphertext of the key (lib/keys/encryption.ts); never leaves the server. */
    encryptedKey: text("encrypted_key"),
    keyId: text("key_id"),
    /** The key's `jti`: whoami accepts an instance's key only while it is this or the deployed one's. */
    keyJti: text("key_jti"),
    /** The `kid` of the signing secret (a one-way fingerprint), so key health can see a retired secret. */
    keySigningKid: text("key_signing_kid"),
    keyExpiresAt: timestamp("key_expires_at", { withTimezone: true }),
    keyMintedAt: timestamp("key_minted_at", { withTimezone: true }),
    keySource: keySource("key_source"),
    /** Short fingerprint of the pepper the key was minted under; never the pepper itself. */
    keyPepperFingerprint: text("key_pepper_fingerprint"),
    /**
     * Set by a pepper rotation in the same transaction that replaces the pepper, so the fallback
     * check needs only this row when the users table is what is failing.
     */
    keyRevokedAt: timestamp("key_revoked_at", { withTimezone: true }),

    // The key confirmed live on the machine; differs from the above after a failed update.
    deployedKeyId: text("deployed_key_id"),
    deployedKeyJti: text("deployed_key_jti"),
    deployedKeySigningKid: text("deployed_key_signing_kid"),
    deployedKeyExpiresAt: timestamp("deployed_key_expires_at", { withTimezone: true }),
    deployedAt: timestamp("deployed_at", { withTimezone: true }),

    lastErrorCode: text("last_error_code"),
    lastErrorMessage: text("last_error_message"),
    lastErrorAt: timestamp("last_error_at", { withTimezone: true }),

    // Operation lease: one lifecycle operation per instance across every replica.
    leaseToken: uuid("lease_token"),
    leaseOperation: text("lease_operation"),
    leaseStep: text("lease_step"),
    leaseExpiresAt: timestamp("lease_expires_at", { withTimezone: true }),

    // Proactive refresh bookkeeping (scheduler claims and backoff).
    refreshAttempts: integer("refresh_attempts").notNull().default(0),
    nextRefreshAttemptAt: timestamp("next_refresh_attempt_at", { withTimezone: true }),

    statusCheckedAt: timestamp("status_checked_at", { withTimezone: true }),
    lastActivityAt: timestamp("last_activity_at", { withTimezone: true }).notNull().defaultNow(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
    destroyedAt: timestamp("destroyed_at", { withTimezone: true }),
  },
  (table) => [
    index("instances_owner_idx").on(table.ownerId, table.createdAt),
    // Fleet view: filter by status / key expiry, keyset-paginated by (sort column, id).
    index("instances_status_idx").on(table.status, table.id),
    index("instances_deployed_expiry_idx").on(table.deployedKeyExpiresAt, table.id),
    index("instances_key_expiry_idx").on(table.keyExpiresAt, table.id),
    index("instances_last_activity_idx").on(table.lastActivityAt, table.id),
    // Scheduler: running instances whose deployed key needs a refresh.
    index("instances_refresh_due_idx")
      .on(table.deployedKeyExpiresAt)
      .where(sql`${table.status} = 'running'`),
    // Admin overview (lib/admin/health-counts.ts): live instances by their active key's expiry, and
    // running instances whose key a rotation revoked (the overdue-refresh count).
    index("instances_live_expiry_idx")
      .on(sql`coalesce(${table.deployedKeyExpiresAt}, ${table.keyExpiresAt})`)
      .where(sql`${table.destroyedAt} is null`),
    // (both covering what the refresh point needs, so the counts read the index alone)
    index("instances_running_expiry_idx")
      .on(table.deployedKeyExpiresAt, table.id)
      .where(sql`${table.status} = 'running' and ${table.destroyedAt} is null`),
    index("instances_running_revoked_idx")
      .on(table.keyRevokedAt, table.deployedKeyExpiresAt, table.id)
      .where(sql`${table.status} = 'running' and ${table.keyRevokedAt} is not null and ${table.destroyedAt} is null`),
  ],
);

export type InstanceRow = typeof instances.$inferSelect;
export type NewInstanceRow = typeof instances.$inferInsert;
export type InstanceStatus = (typeof instanceStatus.enumValues)[number];
export type KeySource = (typeof keySource.enumValues)[number];

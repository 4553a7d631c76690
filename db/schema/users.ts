import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import { index, integer, pgEnum, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";

/** A fresh pepper: 24 random bytes, hex. Used for new users and for every rotation. */
export function generatePepper(): string {
  return randomBytes(24).toString("hex");
}

export const userRole = pgEnum("user_role", ["user", "admin"]);

export const users = pgTable(
  "users",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    email: text("email").notNull().unique(),
    name: text("name"),
    /** scrypt hash (see lib/auth/password.ts); null for users who only sign in through OAuth. */
    passwordHash: text("password_hash"),
    role: userRole("role").notNull().default("user"),
    /** Every API key embeds the pepper it was minted under; replacing it revokes them all. */
    apiTokenPepper: text("api_token_pepper")
      .notNull()
      .$defaultFn(generatePepper),
    pepperRotatedAt: timestamp("pepper_rotated_at", { withTimezone: true }),
    /**
     * Carried in every session token at sign-in; a session whose version differs is over. Bumped by
     * a password change and by "Sign out everywhere".
     */
    sessionVersion: integer("session_version").notNull().default(0),
    /** This user's instance quota; null means MAX_INSTANCES_PER_USER. */
    maxInstances: integer("max_instances"),
    /** The GitHub account (numeric id) this user signs in with; a GitHub login is matched by it, never by email. */
    githubId: text("github_id").unique(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    index("users_created_at_idx").on(table.createdAt),
    // Admin owner-email search is a case-insensitive prefix match; text_pattern_ops serves LIKE 'x%'.
    index("users_email_search_idx").using("btree", sql`lower(${table.email}) text_pattern_ops`),
  ],
);

/**
 * Sign-in failure counters, keyed by `pair:<email>|<ip>` or `ip:<address>` (lib/auth/throttle.ts).
 * They live in Postgres so every replica throttles the same attacker.
 */
export const signInAttempts = pgTable(
  "sign_in_attempts",
  {
    key: text("key").primaryKey(),
    failures: integer("failures").notNull().default(0),
    windowStartedAt: timestamp("window_started_at", { withTimezone: true }).notNull().defaultNow(),
    /** No attempt under this key is tried before this time (the progressive delay). */
    blockedUntil: timestamp("blocked_until", { withTimezone: true }),
  },
  // The daily prune deletes by age.
  (table) => [index("sign_in_attempts_window_idx").on(table.windowStartedAt)],
);

/**
 * Fixed-window counters of the per-user operation rate limit (lib/limits/rate-limit.ts), one row
 * per (key, window); old windows are pruned daily.
 */
export const rateLimitWindows = pgTable(
  "rate_limit_windows",
  {
    key: text("key").notNull(),
    windowStart: timestamp("window_start", { withTimezone: true }).notNull(),
    hits: integer("hits").notNull().default(0),
  },
  (table) => [primaryKey({ columns: [table.key, table.windowStart] }), index("rate_limit_windows_start_idx").on(table.windowStart)],
);

export type UserRow = typeof users.$inferSelect;
export type NewUserRow = typeof users.$inferInsert;

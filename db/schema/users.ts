import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import { index, integer, pgEnum, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

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
 * Fixed-window counters for sign-in attempts, keyed by `email:<address>` or `ip:<address>`.
 * They live in Postgres so every replica throttles the same attacker.
 */
export const signInAttempts = pgTable("sign_in_attempts", {
  key: text("key").primaryKey(),
  failures: integer("failures").notNull().default(0),
  windowStartedAt: timestamp("window_started_at", { withTimezone: true }).notNull().defaultNow(),
});

export type UserRow = typeof users.$inferSelect;
export type NewUserRow = typeof users.$inferInsert;

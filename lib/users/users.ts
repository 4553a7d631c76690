import { eq, sql } from "drizzle-orm";
import type { Database } from "@/db";
import { users, type UserRow } from "@/db/schema";
import { recordInstanceEvent, type Actor } from "@/lib/audit/events";
import { hashPassword } from "@/lib/auth/password";
import { emailSchema, passwordSchema, type UserRole } from "./schemas";

/** What the rest of the app may know about a user: never the password hash or the pepper. */
export interface SessionUser {
  id: string;
  email: string;
  name: string | null;
  role: UserRole;
}

export function toSessionUser(row: UserRow): SessionUser {
  return { id: row.id, email: row.email, name: row.name, role: row.role };
}

export async function getUserById(db: Database, id: string): Promise<UserRow | undefined> {
  const [row] = await db.select().from(users).where(eq(users.id, id)).limit(1);
  return row;
}

export async function getUserByEmail(db: Database, email: string): Promise<UserRow | undefined> {
  const [row] = await db.select().from(users).where(eq(users.email, emailSchema.parse(email))).limit(1);
  return row;
}

export async function getUserByGithubId(db: Database, githubId: string): Promise<UserRow | undefined> {
  const [row] = await db.select().from(users).where(eq(users.githubId, githubId)).limit(1);
  return row;
}

/**
 * Ends every session of the user at once, on every replica: sessions carry the version they were
 * issued under, and each request compares it with the row (lib/auth/session.ts). Safe to repeat.
 * False when there is no such user.
 */
export async function endAllSessions(db: Database, userId: string, actor: Actor): Promise<boolean> {
  const rows = await db
    .update(users)
    .set({ sessionVersion: sql`${users.sessionVersion} + 1`, updatedAt: new Date() })
    .where(eq(users.id, userId))
    .returning({ id: users.id });
  if (rows.length === 0) return false;
  await recordInstanceEvent(db, { instanceId: null, userId, actor, action: "sign_out_everywhere", outcome: "success" });
  return true;
}

export interface UpsertUserInput {
  email: string;
  password?: string;
  name?: string;
  role?: UserRole;
}

/**
 * Creates the user, or updates name/password/role of the existing one with that email. Safe to
 * repeat and to race: the email's unique index decides, and the loser updates the winner's row.
 * The pepper is kept on update, so existing API keys stay valid; a new password ends the user's
 * existing sessions.
 */
export async function upsertUser(db: Database, input: UpsertUserInput): Promise<{ user: UserRow; created: boolean }> {
  const email = emailSchema.parse(input.email);
  const passwordHash = input.password === undefined ? undefined : await hashPassword(passwordSchema.parse(input.password));
  const updates = {
    ...(input.name !== undefined ? { name: input.name } : {}),
    // A new password ends every session signed in under the old one.
    ...(passwordHash !== undefined ? { passwordHash, sessionVersion: sql`${users.sessionVersion} + 1` } : {}),
    ...(input.role !== undefined ? { role: input.role } : {}),
    updatedAt: new Date(),
  };
  const existing = await getUserByEmail(db, email);
  if (existing) {
    const [user] = await db.update(users).set(updates).where(eq(users.id, existing.id)).returning();
    return { user: user!, created: false };
  }
  const [user] = await db
    .insert(users)
    .values({ email, name: input.name ?? null, passwordHash: passwordHash ?? null, role: input.role ?? "user" })
    .onConflictDoUpdate({ target: users.email, set: updates })
    .returning();
  return { user: user!, created: true };
}

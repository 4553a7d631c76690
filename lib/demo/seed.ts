import { randomBytes } from "node:crypto";
import { count } from "drizzle-orm";
import type { Database } from "@/db";
import { users } from "@/db/schema";
import { upsertUser } from "@/lib/users/users";
import type { UserRole } from "@/lib/users/schemas";

export interface DemoCredential {
  email: string;
  password: string;
  role: UserRole;
}

function demoPassword(): string {
  return `demo-${randomBytes(9).toString("base64url")}`;
}

/**
 * Seeds a demo user and a demo admin with fresh random passwords, only when the database has no
 * users at all (so it never touches a database someone is using). Returns the credentials it
 * created, or undefined when it did nothing. Callers must only use it for the embedded database
 * in development.
 */
export async function seedDemoUsersIfEmpty(db: Database): Promise<DemoCredential[] | undefined> {
  const [row] = await db.select({ value: count() }).from(users);
  if ((row?.value ?? 0) > 0) return undefined;
  const credentials: DemoCredential[] = [
    { email: "demo@fleetdeck.local", password: demoPassword(), role: "user" },
    { email: "admin@fleetdeck.local", password: demoPassword(), role: "admin" },
  ];
  for (const credential of credentials) {
    await upsertUser(db, {
      ...credential,
      name: credential.role === "admin" ? "Demo Admin" : "Demo User",
    });
  }
  return credentials;
}

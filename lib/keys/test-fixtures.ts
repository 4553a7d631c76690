import { randomBytes, randomUUID } from "node:crypto";
import type { Database } from "@/db";
import { instances, users, type InstanceRow, type UserRow } from "@/db/schema";

/** Fixtures shared by this folder's tests (imported only from *.test.ts files). */
export const TEST_SECRET = "test-signing-secret-".padEnd(48, "x");
export const TEST_ENCRYPTION_KEY = randomBytes(32);

export async function seedUserWithInstance(
  db: Database,
  instance: Partial<typeof instances.$inferInsert> = {},
): Promise<{ user: UserRow; instance: InstanceRow }> {
  const [user] = await db.insert(users).values({ email: `${randomUUID()}@example.com` }).returning();
  const [row] = await db
    .insert(instances)
    .values({ ownerId: user!.id, name: "test", provider: "local", region: "local", imageTag: "latest", ...instance })
    .returning();
  return { user: user!, instance: row! };
}

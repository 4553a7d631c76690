import { randomBytes, randomUUID } from "node:crypto";
import type { Database } from "@/db";
import { instances, users, type InstanceRow, type UserRow } from "@/db/schema";
import type { KeyRing } from "@/lib/tokens/key-ring";
import { mintApiKey, type MintedApiKey } from "./mint";
import { storeMintedKey } from "./store-key";

/** Fixtures shared by this folder's tests (imported only from *.test.ts files). */
export const TEST_SECRET = "test-signing-secret-".padEnd(48, "x");
export const TEST_ENCRYPTION_KEY = randomBytes(32);
export const TEST_KEY_RING: KeyRing = { current: TEST_SECRET, previous: [] };

/**
 * Mints a key and records it as the instance's latest, as an operation does: whoami accepts only
 * an instance's current keys, so a key minted and never stored is already superseded.
 */
export async function mintStoredKey(
  db: Database,
  input: { userId: string; instanceId: string },
  options: { secret?: string; env?: string } = {},
): Promise<MintedApiKey> {
  const key = await mintApiKey(input, { db, secret: options.secret ?? TEST_SECRET, env: options.env });
  await storeMintedKey(key, { db, encryptionKey: TEST_ENCRYPTION_KEY });
  return key;
}

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

import { randomUUID } from "node:crypto";
import { and, eq, isNotNull } from "drizzle-orm";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instanceEvents, instances, users } from "@/db/schema";
import { createTestDatabase, realPostgresDrivers, testDrivers, type TestDatabase } from "@/test/db";
import { AppError } from "@/lib/errors";
import { verifyKiloToken } from "@/lib/tokens/kilo-token";
import { chooseKeyToDeploy } from "./choose-key";
import { decryptApiKey } from "./encryption";
import { pepperFingerprint } from "./fingerprints";
import { KEY_STATE_CHANNEL } from "./invalidation";
import { KeyMintTimeoutError, mintApiKey } from "./mint";
import { rotatePepper, type ActorType } from "./rotate-pepper";
import { storeMintedKey } from "./store-key";
import { seedUserWithInstance, TEST_ENCRYPTION_KEY, TEST_KEY_RING, TEST_SECRET } from "@/test/fixtures/keys";

describe.each(testDrivers())("pepper rotation on %s", (driver) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(driver);
  });
  afterAll(async () => {
    await database?.close();
  });

  async function instanceWithStoredKey() {
    const seeded = await seedUserWithInstance(database.db);
    const key = await mintApiKey({ userId: seeded.user.id, instanceId: seeded.instance.id }, { db: database.db, secret: TEST_SECRET });
    expect(await storeMintedKey(key, { db: database.db, encryptionKey: TEST_ENCRYPTION_KEY })).toEqual({ revoked: false });
    return { ...seeded, key };
  }

  async function instanceRow(id: string) {
    const [row] = await database.db.select().from(instances).where(eq(instances.id, id));
    return row!;
  }

  it("storeMintedKey persists the key encrypted, with its id, expiry, source and pepper fingerprint", async () => {
    const { instance, key } = await instanceWithStoredKey();
    const row = await instanceRow(instance.id);
    expect(row).toMatchObject({
      keyId: key.keyId,
      keyExpiresAt: key.expiresAt,
      keyMintedAt: key.mintedAt,
      keySource: "minted",
      keyPepperFingerprint: key.pepperFingerprint,
      keyRevokedAt: null,
    });
    expect(row.encryptedKey).not.toContain(key.token);
    expect(decryptApiKey(row.encryptedKey!, { encryptionKey: TEST_ENCRYPTION_KEY, instanceId: instance.id })).toBe(key.token);
  });

  it("replaces the pepper, revokes every stored key of the user's instances, and records events", async () => {
    const { user, instance, key } = await instanceWithStoredKey();
    const [second] = await database.db
      .insert(instances)
      .values({ ownerId: user.id, name: "second", provider: "local", region: "local", imageTag: "latest" })
      .returning();
    const secondKey = await mintApiKey({ userId: user.id, instanceId: second!.id }, { db: database.db, secret: TEST_SECRET });
    await storeMintedKey(secondKey, { db: database.db, encryptionKey: TEST_ENCRYPTION_KEY });
    const bystander = await instanceWithStoredKey();
    const rotatedAt = new Date("2031-01-01T00:00:00Z");

    const result = await rotatePepper({ userId: user.id, actor: { type: "user", id: user.id } }, { db: database.db, now: () => rotatedAt });

    const [after] = await database.db.select().from(users).where(eq(users.id, user.id));
    expect(after!.apiTokenPepper).not.toBe(user.apiTokenPepper);
    expect(after!.apiTokenPepper).toMatch(/^[0-9a-f]{48}$/);
    expect(after!.pepperRotatedAt).toEqual(rotatedAt);
    expect(result).toEqual({ userId: user.id, rotatedAt, revokedKeyCount: 2, runningInstanceCount: 0, pepperFingerprint: pepperFingerprint(after!.apiTokenPepper) });
    expect((await instanceRow(instance.id)).keyRevokedAt).toEqual(rotatedAt);
    expect((await instanceRow(second!.id)).keyRevokedAt).toEqual(rotatedAt);
    expect((await instanceRow(bystander.instance.id)).keyRevokedAt).toBeNull();

    const events = await database.db.select().from(instanceEvents).where(eq(instanceEvents.userId, user.id));
    expect(events.map((event) => [event.action, event.instanceId, event.keyId]).sort()).toEqual(
      [
        ["key_revoked", instance.id, key.keyId],
        ["key_revoked", second!.id, secondKey.keyId],
        ["pepper_rotated", null, null],
      ].sort(),
    );
    for (const event of events) {
      expect(event).toMatchObject({ actorType: "user", actorId: user.id, outcome: "success" });
      const text = JSON.stringify(event);
      for (const secret of [key.token, secondKey.token, user.apiTokenPepper, after!.apiTokenPepper]) expect(text).not.toContain(secret);
    }

    // The fallback now refuses the stored key from the instance row alone.
    const row = await instanceRow(instance.id);
    const refusal = await chooseKeyToDeploy({
      mint: { ok: false, error: new KeyMintTimeoutError(5_000) },
      stored: row,
      now: new Date("2031-01-02T00:00:00Z"),
      encryptionKey: TEST_ENCRYPTION_KEY,
      keyRing: TEST_KEY_RING,
      minRemainingMs: 60 * 60_000,
    }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refusal).toMatchObject({ code: "key_unavailable", details: { reason: "revoked" } });
  });

  it("a mint after rotation uses the new pepper", async () => {
    const { user, instance } = await instanceWithStoredKey();
    await rotatePepper({ userId: user.id, actor: { type: "admin", id: randomUUID() } }, { db: database.db });
    const [after] = await database.db.select().from(users).where(eq(users.id, user.id));
    const key = await mintApiKey({ userId: user.id, instanceId: instance.id }, { db: database.db, secret: TEST_SECRET });
    const verified = await verifyKiloToken(key.token, TEST_SECRET);
    expect(verified.ok && verified.payload.apiTokenPepper).toBe(after!.apiTokenPepper);
    expect(key.pepperFingerprint).toBe(pepperFingerprint(after!.apiTokenPepper));
    // Storing it clears the revocation left by the rotation: this key is current.
    expect(await storeMintedKey(key, { db: database.db, encryptionKey: TEST_ENCRYPTION_KEY })).toEqual({ revoked: false });
    expect((await instanceRow(instance.id)).keyRevokedAt).toBeNull();
  });

  it("a key minted before a rotation but stored after it is stored as revoked", async () => {
    const { user, instance } = await seedUserWithInstance(database.db);
    const key = await mintApiKey({ userId: user.id, instanceId: instance.id }, { db: database.db, secret: TEST_SECRET });
    await rotatePepper({ userId: user.id, actor: { type: "system", id: null } }, { db: database.db });
    expect(await storeMintedKey(key, { db: database.db, encryptionKey: TEST_ENCRYPTION_KEY })).toEqual({ revoked: true });
    expect((await instanceRow(instance.id)).keyRevokedAt).not.toBeNull();
  });

  it("storeMintedKey refuses an instance of another owner", async () => {
    const { key } = await instanceWithStoredKey();
    const other = await seedUserWithInstance(database.db);
    const error = await storeMintedKey({ ...key, instanceId: other.instance.id }, { db: database.db, encryptionKey: TEST_ENCRYPTION_KEY }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: "not_found" });
  });

  it("refuses an unknown user and changes nothing", async () => {
    for (const userId of [randomUUID(), "nope"]) {
      const error = await rotatePepper({ userId, actor: { type: "system", id: null } }, { db: database.db }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe("not_found");
    }
  });

  it("rolls everything back when any step fails, and the error does not carry the new pepper", async () => {
    const { user, instance } = await instanceWithStoredKey();
    const error = await rotatePepper({ userId: user.id, actor: { type: "robot" as ActorType, id: null } }, { db: database.db }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).not.toBe("DrizzleQueryError");
    expect((error as Error).message).not.toMatch(/params/);
    const [after] = await database.db.select().from(users).where(eq(users.id, user.id));
    expect(after!.apiTokenPepper).toBe(user.apiTokenPepper);
    expect(after!.pepperRotatedAt).toBeNull();
    expect((await instanceRow(instance.id)).keyRevokedAt).toBeNull();
    const events = await database.db.select().from(instanceEvents).where(and(eq(instanceEvents.userId, user.id), isNotNull(instanceEvents.action)));
    expect(events).toEqual([]);
  });

  it("notifies other replicas only once the rotation commits", async () => {
    const { user } = await seedUserWithInstance(database.db);
    const received: string[] = [];
    const unlisten = await database.listen(KEY_STATE_CHANNEL, (payload) => received.push(payload));
    try {
      await rotatePepper({ userId: user.id, actor: { type: "robot" as ActorType, id: null } }, { db: database.db }).catch(() => {});
      await rotatePepper({ userId: user.id, actor: { type: "user", id: user.id } }, { db: database.db });
      await waitFor(() => received.length > 0);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(received).toEqual([`user:${user.id}`]);
    } finally {
      await unlisten();
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe.each(realPostgresDrivers())("storeMintedKey racing a rotation on %s", (driver) => {
  let database: TestDatabase;
  let rotator: pg.Client;
  beforeAll(async () => {
    database = await createTestDatabase(driver);
    rotator = new pg.Client({ connectionString: database.url });
    await rotator.connect();
  });
  afterAll(async () => {
    await rotator?.end();
    await database?.close();
  });

  it("waits for an uncommitted pepper change and then stores the key as revoked", async () => {
    const { user, instance } = await seedUserWithInstance(database.db);
    const key = await mintApiKey({ userId: user.id, instanceId: instance.id }, { db: database.db, secret: TEST_SECRET });
    await rotator.query("begin");
    await rotator.query("update users set api_token_pepper = 'rotated-elsewhere' where id = $1", [user.id]);
    let settled = false;
    const storing = storeMintedKey(key, { db: database.db, encryptionKey: TEST_ENCRYPTION_KEY }).finally(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(settled).toBe(false); // blocked on the owner's row, not reading the old pepper
    await rotator.query("commit");
    expect(await storing).toEqual({ revoked: true });
  });
});

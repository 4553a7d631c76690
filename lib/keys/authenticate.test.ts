import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type DatabaseHandle } from "@/db/client";
import { instances, users } from "@/db/schema";
import { createTestDatabase, realPostgresDrivers, testDrivers, type TestDatabase } from "@/test/db";
import { AppError } from "@/lib/errors";
import { signKiloToken } from "@/lib/tokens/kilo-token";
import { authenticateInstanceKey, type AuthenticateInstanceKeyDeps } from "./authenticate";
import { KEY_STATE_CHANNEL, notifyKeyStateChanged } from "./invalidation";
import { databaseKeyStateSource, KeyStateCache, type KeyStateSource } from "./key-state-cache";
import jwt from "jsonwebtoken";
import { API_KEY_LIFETIME_SECONDS } from "./mint";
import { storeMintedKey } from "./store-key";
import { rotatePepper } from "./rotate-pepper";
import { mintStoredKey, seedUserWithInstance, TEST_ENCRYPTION_KEY, TEST_KEY_RING, TEST_SECRET } from "@/test/fixtures/keys";

/** The database source, counting reads, so tests can prove the hot path does no I/O. */
function countingSource(source: KeyStateSource) {
  const reads = { peppers: 0, instances: 0 };
  const counted: KeyStateSource = {
    currentPepper: (userId) => {
      reads.peppers += 1;
      return source.currentPepper(userId);
    },
    instanceState: (instanceId) => {
      reads.instances += 1;
      return source.instanceState(instanceId);
    },
  };
  return { source: counted, reads };
}

async function failure(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => new Error("expected a rejection"),
    (caught: unknown) => caught,
  );
  if (!(error instanceof AppError)) throw error;
  return error;
}

/** "ok" or the error code: the shape a poll loop needs. */
function outcome(token: string, deps: AuthenticateInstanceKeyDeps): Promise<string> {
  return authenticateInstanceKey(token, deps).then(
    () => "ok",
    (error: unknown) => (error instanceof AppError ? error.code : String(error)),
  );
}

async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return performance.now() - started;
}

describe.each(testDrivers())("authenticateInstanceKey on %s", (driver) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(driver);
  });
  afterAll(async () => {
    await database?.close();
  });

  async function setup(options: { env?: string } = {}) {
    const seeded = await seedUserWithInstance(database.db);
    const key = await mintStoredKey(database.db, { userId: seeded.user.id, instanceId: seeded.instance.id }, { secret: TEST_SECRET, env: options.env });
    const counting = countingSource(databaseKeyStateSource(database.db));
    const cache = new KeyStateCache(counting.source);
    const deps: AuthenticateInstanceKeyDeps = { keyRing: TEST_KEY_RING, env: options.env, cache };
    return { ...seeded, key, cache, deps, reads: counting.reads };
  }

  it("answers who the key belongs to", async () => {
    const { user, instance, key, deps } = await setup();
    expect(await authenticateInstanceKey(key.token, deps)).toEqual({
      userId: user.id,
      instanceId: instance.id,
      keyId: key.keyId,
      expiresAt: key.expiresAt,
    });
  });

  it("serves repeated requests from memory: one read of each kind, then none", async () => {
    const { key, deps, reads } = await setup();
    await Promise.all(Array.from({ length: 20 }, () => authenticateInstanceKey(key.token, deps)));
    for (let i = 0; i < 100; i += 1) await authenticateInstanceKey(key.token, deps);
    expect(reads).toEqual({ peppers: 1, instances: 1 });
  });

  it("rereads the pepper once its TTL passes", async () => {
    const seeded = await setup();
    let clock = Date.now();
    const counting = countingSource(databaseKeyStateSource(database.db));
    const cache = new KeyStateCache(counting.source, { ttlMs: 30_000, now: () => clock });
    const deps = { keyRing: TEST_KEY_RING, cache, now: () => new Date(clock) };
    await authenticateInstanceKey(seeded.key.token, deps);
    clock += 29_000;
    await authenticateInstanceKey(seeded.key.token, deps);
    expect(counting.reads.peppers).toBe(1);
    clock += 2_000;
    await authenticateInstanceKey(seeded.key.token, deps);
    expect(counting.reads.peppers).toBe(2);
  });

  it("token_expired once the key's exp passes, from a cold and a warm cache", async () => {
    const { key, deps } = await setup();
    const afterExpiry = () => new Date(key.expiresAt.getTime() + 1_000);
    await authenticateInstanceKey(key.token, deps); // warm
    const warm = await failure(authenticateInstanceKey(key.token, { ...deps, now: afterExpiry }));
    expect(warm).toMatchObject({ code: "token_expired", status: 401 });
    expect(warm.message).toContain(key.keyId);
    const cold = await failure(authenticateInstanceKey(key.token, { keyRing: TEST_KEY_RING, cache: new KeyStateCache(databaseKeyStateSource(database.db)), now: afterExpiry }));
    expect(cold.code).toBe("token_expired");
  });

  it("token_revoked after a pepper rotation in this process, and a new mint is accepted", async () => {
    const { user, instance, key, deps, cache } = await setup();
    await authenticateInstanceKey(key.token, deps);
    await rotatePepper({ userId: user.id, actor: { type: "user", id: user.id } }, { db: database.db, cache });
    const error = await failure(authenticateInstanceKey(key.token, deps));
    expect(error).toMatchObject({ code: "token_revoked", status: 401 });
    expect(error.message).toMatch(/rotated/);

    const fresh = await mintStoredKey(database.db, { userId: user.id, instanceId: instance.id }, { secret: TEST_SECRET });
    expect(await authenticateInstanceKey(fresh.token, deps)).toMatchObject({ keyId: fresh.keyId });
  });

  it("token_revoked for a destroyed instance, announced through notifyKeyStateChanged", async () => {
    const { instance, key, deps, cache } = await setup();
    const unlisten = await cache.listen(database);
    try {
      await authenticateInstanceKey(key.token, deps);
      await database.db.transaction(async (tx) => {
        await tx.update(instances).set({ status: "destroyed", destroyedAt: new Date() }).where(eq(instances.id, instance.id));
        await notifyKeyStateChanged(tx, { instanceId: instance.id });
      });
      await eventually(async () => (await outcome(key.token, deps)) === "token_revoked", 1_000);
      const error = await failure(authenticateInstanceKey(key.token, deps));
      expect(error.message).toMatch(/destroyed/);
    } finally {
      await unlisten();
    }
  });

  it("token_revoked when the owner or the instance no longer exists", async () => {
    const gone = await setup();
    await database.db.delete(users).where(eq(users.id, gone.user.id));
    expect((await failure(authenticateInstanceKey(gone.key.token, gone.deps))).code).toBe("token_revoked");

    const orphan = await setup();
    await database.db.delete(instances).where(eq(instances.id, orphan.instance.id));
    expect((await failure(authenticateInstanceKey(orphan.key.token, orphan.deps))).code).toBe("token_revoked");
  });

  it("token_invalid for keys that are not this instance's, or not ours", async () => {
    const { user, key, deps } = await setup();
    const other = await seedUserWithInstance(database.db);
    const sign = (extra: { instanceId?: string }, userId = user.id, secret = TEST_SECRET) =>
      signKiloToken({ userId, pepper: user.apiTokenPepper, secret, expiresInSeconds: API_KEY_LIFETIME_SECONDS, extra }).then((signed) => signed.token);

    const cases: [string, string][] = [
      ["garbage", "not-a-key"],
      ["another secret", await sign({ instanceId: other.instance.id }, user.id, "another-secret-".padEnd(40, "z"))],
      ["a user key without instanceId", await sign({})],
      ["another owner's instance", await sign({ instanceId: other.instance.id })],
      ["a non-uuid instance", await sign({ instanceId: "instance-1" })],
      ["a non-uuid user", await sign({ instanceId: other.instance.id }, "user-1")],
      ["a tampered copy of a real key", `${key.token.slice(0, -2)}${key.token.endsWith("AA") ? "BB" : "AA"}`],
    ];
    for (const [name, token] of cases) {
      const error = await failure(authenticateInstanceKey(token, deps));
      expect({ name, code: error.code, status: error.status }).toEqual({ name, code: "token_invalid", status: 401 });
    }
  });

  it("token_invalid for a key minted for another environment", async () => {
    const { key, cache } = await setup({ env: "staging" });
    expect(await authenticateInstanceKey(key.token, { keyRing: TEST_KEY_RING, env: "staging", cache })).toMatchObject({ keyId: key.keyId });
    expect((await failure(authenticateInstanceKey(key.token, { keyRing: TEST_KEY_RING, env: "production", cache }))).code).toBe("token_invalid");
    expect((await failure(authenticateInstanceKey(key.token, { keyRing: { current: "another-secret-".padEnd(40, "z"), previous: [] }, env: "staging", cache }))).code).toBe("token_invalid");
  });

  it("no error message contains the key or a pepper", async () => {
    const { user, key, deps, cache } = await setup();
    await authenticateInstanceKey(key.token, deps);
    await rotatePepper({ userId: user.id, actor: { type: "user", id: user.id } }, { db: database.db, cache });
    const [after] = await database.db.select().from(users).where(eq(users.id, user.id));
    const errors = [
      await failure(authenticateInstanceKey(key.token, deps)),
      await failure(authenticateInstanceKey(key.token, { ...deps, now: () => new Date(key.expiresAt.getTime() + 1) })),
      await failure(authenticateInstanceKey(`${key.token}x`, deps)),
    ];
    for (const error of errors) {
      const text = JSON.stringify({ message: error.message, details: error.details });
      for (const secret of [key.token, key.token.split(".")[2]!, user.apiTokenPepper, after!.apiTokenPepper]) expect(text).not.toContain(secret);
    }
  });

  it("another replica's cache drops the pepper within 1 s of a rotation (LISTEN/NOTIFY)", async () => {
    const { user, key } = await setup();
    const replicaA = new KeyStateCache(databaseKeyStateSource(database.db));
    const replicaB = new KeyStateCache(databaseKeyStateSource(database.db));
    const unlistenA = await replicaA.listen(database);
    const unlistenB = await replicaB.listen(database);
    try {
      const depsB = { keyRing: TEST_KEY_RING, cache: replicaB };
      await authenticateInstanceKey(key.token, depsB);
      await rotatePepper({ userId: user.id, actor: { type: "user", id: user.id } }, { db: database.db, cache: replicaA });
      const elapsed = await eventually(
        async () => (await outcome(key.token, depsB)) === "token_revoked",
        1_000,
      );
      expect(elapsed).toBeLessThan(1_000);
    } finally {
      await unlistenA();
      await unlistenB();
    }
  });

  it("drops everything on a notification it does not understand", async () => {
    const { key, deps, cache, reads } = await setup();
    const unlisten = await cache.listen(database);
    try {
      await authenticateInstanceKey(key.token, deps);
      await database.db.execute(sql`select pg_notify(${KEY_STATE_CHANNEL}, 'future-format')`);
      await eventually(async () => {
        await authenticateInstanceKey(key.token, deps);
        return reads.peppers >= 2;
      }, 1_000);
    } finally {
      await unlisten();
    }
  });

  it("forgets cached verifications when the secret changes", async () => {
    const { user, instance, key, cache } = await setup();
    const secret2 = "rotated-secret-".padEnd(40, "q");
    await authenticateInstanceKey(key.token, { keyRing: TEST_KEY_RING, cache });
    expect((await failure(authenticateInstanceKey(key.token, { keyRing: { current: secret2, previous: [] }, cache }))).code).toBe("token_invalid");
    const other = await mintStoredKey(database.db, { userId: user.id, instanceId: instance.id }, { secret: secret2 });
    expect(await authenticateInstanceKey(other.token, { keyRing: { current: secret2, previous: [] }, cache })).toMatchObject({ keyId: other.keyId });
    expect((await failure(authenticateInstanceKey(key.token, { keyRing: { current: secret2, previous: [] }, cache }))).code).toBe("token_invalid");
  });

  it("accepts only the instance's current keys: a superseded key is token_revoked, the deployed one still works", async () => {
    const { user, instance, key, deps, cache } = await setup();
    const unlisten = await cache.listen(database);
    try {
      // The first key is deployed; a second is minted as latest (a redeploy in flight): both may be on the machine.
      await database.db.update(instances).set({ deployedKeyId: key.keyId, deployedKeyJti: key.jti }).where(eq(instances.id, instance.id));
      const second = await mintStoredKey(database.db, { userId: user.id, instanceId: instance.id });
      await eventually(async () => (await outcome(second.token, deps)) === "ok", 1_000);
      expect(await outcome(key.token, deps)).toBe("ok");

      // A third mint replaces the latest: the second is neither latest nor deployed any more.
      const third = await mintStoredKey(database.db, { userId: user.id, instanceId: instance.id });
      await eventually(async () => (await outcome(second.token, deps)) === "token_revoked", 1_000);
      const error = await failure(authenticateInstanceKey(second.token, deps));
      expect(error.message).toMatch(/superseded/);
      expect(await outcome(third.token, deps)).toBe("ok");
      expect(await outcome(key.token, deps)).toBe("ok");
    } finally {
      await unlisten();
    }
  });

  it("a key re-signed with the same payload by another HS256 implementation (same jti) still verifies", async () => {
    const { key, deps } = await setup();
    const payload = jwt.decode(key.token) as Record<string, unknown>;
    const resigned = jwt.sign(payload, TEST_SECRET, { algorithm: "HS256" });
    expect(resigned).not.toBe(key.token);
    expect(await authenticateInstanceKey(resigned, deps)).toMatchObject({ instanceId: payload.instanceId });
    const { jti: _jti, ...withoutJti } = payload;
    void _jti;
    const otherJti = jwt.sign({ ...withoutJti, jti: randomUUID() }, TEST_SECRET, { algorithm: "HS256" });
    expect((await failure(authenticateInstanceKey(otherJti, deps))).code).toBe("token_revoked");
  });

  it("accepts keys under a previous secret while it stays in the ring, and refuses an unknown kid", async () => {
    const { user, instance, cache } = await setup();
    const retiring = "retiring-secret-".padEnd(40, "r");
    const old = await mintStoredKey(database.db, { userId: user.id, instanceId: instance.id }, { secret: retiring });
    const rotated = { keyRing: { current: TEST_SECRET, previous: [retiring] }, cache };
    expect(await authenticateInstanceKey(old.token, rotated)).toMatchObject({ keyId: old.keyId });
    const dropped = await failure(authenticateInstanceKey(old.token, { keyRing: TEST_KEY_RING, cache }));
    expect(dropped).toMatchObject({ code: "token_invalid", status: 401 });
    expect(dropped.message).toMatch(/no longer/);
  });

  it("a key stored by an operation is current even before it is deployed", async () => {
    const { user, instance, deps } = await setup();
    const key = await mintStoredKey(database.db, { userId: user.id, instanceId: instance.id });
    await storeMintedKey(key, { db: database.db, encryptionKey: TEST_ENCRYPTION_KEY });
    expect(await outcome(key.token, deps)).toBe("ok");
  });

  it("a random user id in a validly signed key is refused without error", async () => {
    const { deps } = await setup();
    const { token } = await signKiloToken({ userId: randomUUID(), pepper: "x", secret: TEST_SECRET, expiresInSeconds: 60, extra: { instanceId: randomUUID() } });
    expect((await failure(authenticateInstanceKey(token, deps))).code).toBe("token_revoked");
  });
});

describe.each(realPostgresDrivers())("two replicas with their own connections to one %s server", (driver) => {
  let database: TestDatabase;
  let replicaA: DatabaseHandle;
  let replicaB: DatabaseHandle;
  beforeAll(async () => {
    database = await createTestDatabase(driver);
    replicaA = await openDatabase({ url: database.url, driver });
    replicaB = await openDatabase({ url: database.url, driver });
  });
  afterAll(async () => {
    await replicaA?.close();
    await replicaB?.close();
    await database?.close();
  });

  it("a rotation on replica A revokes the key on replica B within 1 s", async () => {
    const { user, instance } = await seedUserWithInstance(replicaA.db);
    const key = await mintStoredKey(replicaA.db, { userId: user.id, instanceId: instance.id }, { secret: TEST_SECRET });
    const cacheA = new KeyStateCache(databaseKeyStateSource(replicaA.db));
    const cacheB = new KeyStateCache(databaseKeyStateSource(replicaB.db));
    const unlistenA = await cacheA.listen(replicaA);
    const unlistenB = await cacheB.listen(replicaB);
    try {
      const depsA = { keyRing: TEST_KEY_RING, cache: cacheA };
      const depsB = { keyRing: TEST_KEY_RING, cache: cacheB };
      await authenticateInstanceKey(key.token, depsA);
      await authenticateInstanceKey(key.token, depsB);

      await rotatePepper({ userId: user.id, actor: { type: "user", id: user.id } }, { db: replicaA.db, cache: cacheA });
      // Replica A dropped its entry synchronously.
      expect((await failure(authenticateInstanceKey(key.token, depsA))).code).toBe("token_revoked");
      const elapsed = await eventually(
        async () => (await outcome(key.token, depsB)) === "token_revoked",
        1_000,
      );
      expect(elapsed).toBeLessThan(1_000);
    } finally {
      await unlistenA();
      await unlistenB();
    }
  });
});

import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "@/db";
import { users } from "@/db/schema";
import { createTestDatabase, realPostgresDrivers, testDrivers, type TestDatabase } from "@/test/db";
import { AppError } from "@/lib/errors";
import { verifyKiloToken } from "@/lib/tokens/kilo-token";
import { keyIdOf, pepperFingerprint } from "./fingerprints";
import { API_KEY_LIFETIME_SECONDS, KeyMintTimeoutError, mintApiKey } from "./mint";
import { seedUserWithInstance, TEST_SECRET } from "@/test/fixtures/keys";

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => new Error("expected a rejection"),
    (error: unknown) => error,
  );
}

describe.each(testDrivers())("mintApiKey on %s", (driver) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(driver);
  });
  afterAll(async () => {
    await database?.close();
  });

  it("signs a 30-day key for the instance under the owner's current pepper", async () => {
    const { user, instance } = await seedUserWithInstance(database.db);
    const mintedAt = new Date();
    const key = await mintApiKey({ userId: user.id, instanceId: instance.id }, { db: database.db, secret: TEST_SECRET, now: () => mintedAt });

    expect(key).toMatchObject({ userId: user.id, instanceId: instance.id, mintedAt, keyId: keyIdOf(key.token) });
    expect(key.pepperFingerprint).toBe(pepperFingerprint(user.apiTokenPepper));
    const verified = await verifyKiloToken(key.token, TEST_SECRET);
    expect(verified.ok && verified.payload).toMatchObject({ kiloUserId: user.id, instanceId: instance.id, apiTokenPepper: user.apiTokenPepper });
    expect(verified.ok && verified.payload.exp * 1000).toBe(key.expiresAt.getTime());
    expect(key.expiresAt.getTime() - Math.floor(mintedAt.getTime() / 1000) * 1000).toBe(API_KEY_LIFETIME_SECONDS * 1000);
  });

  it("reads the pepper fresh on every mint", async () => {
    const { user, instance } = await seedUserWithInstance(database.db);
    await database.db.update(users).set({ apiTokenPepper: "changed-pepper" }).where(eq(users.id, user.id));
    const key = await mintApiKey({ userId: user.id, instanceId: instance.id }, { db: database.db, secret: TEST_SECRET });
    const verified = await verifyKiloToken(key.token, TEST_SECRET);
    expect(verified.ok && verified.payload.apiTokenPepper).toBe("changed-pepper");
  });

  it("carries the env claim when configured", async () => {
    const { user, instance } = await seedUserWithInstance(database.db);
    const key = await mintApiKey({ userId: user.id, instanceId: instance.id }, { db: database.db, secret: TEST_SECRET, env: "staging" });
    expect(await verifyKiloToken(key.token, TEST_SECRET, { env: "staging" })).toMatchObject({ ok: true });
    expect(await verifyKiloToken(key.token, TEST_SECRET, { env: "production" })).toMatchObject({ ok: false, reason: "env_mismatch" });
  });

  it.each([["an unknown user", randomUUID()], ["a non-uuid user id", "not-a-user"]])("refuses %s with not_found", async (_, userId) => {
    const error = await rejection(mintApiKey({ userId, instanceId: randomUUID() }, { db: database.db, secret: TEST_SECRET }));
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe("not_found");
  });
});

describe("mintApiKey client-side deadline", () => {
  it("gives up on time even when the database never answers", async () => {
    const silent = { transaction: () => new Promise(() => {}) } as unknown as Database;
    const started = performance.now();
    const error = await rejection(mintApiKey({ userId: randomUUID(), instanceId: randomUUID() }, { db: silent, secret: TEST_SECRET, timeoutMs: 300 }));
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(KeyMintTimeoutError);
    expect((error as AppError).code).toBe("key_unavailable");
    expect(elapsed).toBeGreaterThanOrEqual(295);
    expect(elapsed).toBeLessThan(600);
  });
});

describe.each(realPostgresDrivers())("mintApiKey timeout on %s with the users table locked", (driver) => {
  let database: TestDatabase;
  let locker: pg.Client;
  beforeAll(async () => {
    database = await createTestDatabase(driver);
    locker = new pg.Client({ connectionString: database.url });
    await locker.connect();
  });
  afterAll(async () => {
    await locker?.end();
    await database?.close();
  });

  it("rejects in 5 s ± 0.5 s, cancelled by the server, with no query of ours left waiting", async () => {
    const { user, instance } = await seedUserWithInstance(database.db);
    await locker.query("begin");
    await locker.query("lock table users in access exclusive mode");
    try {
      const started = performance.now();
      const error = await rejection(mintApiKey({ userId: user.id, instanceId: instance.id }, { db: database.db, secret: TEST_SECRET }));
      const elapsed = performance.now() - started;

      expect(error).toBeInstanceOf(KeyMintTimeoutError);
      expect((error as Error).message).toMatch(/timed out after 5000 ms/);
      expect(elapsed).toBeGreaterThanOrEqual(4_500);
      expect(elapsed).toBeLessThanOrEqual(5_500);
      // Postgres itself cancelled the statement (lock_timeout / statement_timeout), not just our timer.
      expect(serverCodes(error)).toEqual(expect.arrayContaining([expect.stringMatching(/^(55P03|57014)$/)]));

      // The lock is still held, so nothing of ours may be waiting for it or still running.
      const activity = await locker.query<{ pid: number; state: string; wait_event_type: string | null; query: string }>(
        `select pid, state, wait_event_type, query from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid()
            and (state <> 'idle' or wait_event_type = 'Lock')`,
      );
      expect(activity.rows).toEqual([]);
      // Other suites may be running on the same server: only this database's locks are ours.
      const waitingLocks = await locker.query(
        "select 1 from pg_locks where not granted and database = (select oid from pg_database where datname = current_database())",
      );
      expect(waitingLocks.rows).toEqual([]);
    } finally {
      await locker.query("rollback");
    }

    // The pool is healthy afterwards: the next mint works.
    const key = await mintApiKey({ userId: user.id, instanceId: instance.id }, { db: database.db, secret: TEST_SECRET });
    expect(key.userId).toBe(user.id);
  });
});

function serverCodes(error: unknown): string[] {
  const codes: string[] = [];
  for (let current = error; current; current = (current as { cause?: unknown }).cause) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") codes.push(code);
  }
  return codes;
}

import { eq } from "drizzle-orm";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { users } from "@/db/schema";
import { openDatabase } from "@/db/client";
import { realPostgresDrivers, createTestDatabase, type TestDatabase } from "@/test/db";
import { databaseKeyStateSource, KeyStateCache } from "./key-state-cache";
import { notifyKeyStateChanged } from "./invalidation";

describe.each(realPostgresDrivers())("key-state cache when its LISTEN connection drops (%s)", (driver) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(driver);
  });
  afterAll(async () => {
    await database?.close();
  });

  it("reads through to Postgres while unsubscribed, then resubscribes and trusts notifications again", async () => {
    const [user] = await database.db.insert(users).values({ email: "listen@example.com" }).returning();
    const reads: string[] = [];
    const source = databaseKeyStateSource(database.db);
    const cache = new KeyStateCache({
      currentPepper: (userId) => {
        reads.push(userId);
        return source.currentPepper(userId);
      },
      instanceState: (instanceId) => source.instanceState(instanceId),
    });
    const unlisten = await cache.listen(database);
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      await cache.currentPepper(user!.id);
      await cache.currentPepper(user!.id);
      expect(reads).toHaveLength(1);

      await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where query ilike 'LISTEN%' and datname = current_database()");
      // A change committed while nobody listens: without the lost-connection handling the cache
      // would keep the old pepper for its whole TTL.
      await database.db.update(users).set({ apiTokenPepper: "rotated-while-deaf" }).where(eq(users.id, user!.id));
      await expect.poll(() => cache.currentPepper(user!.id), { timeout: 5_000 }).toBe("rotated-while-deaf");

      // Subscribed again: repeat reads are cached, and notifications invalidate as before.
      await expect
        .poll(async () => {
          const before = reads.length;
          await cache.currentPepper(user!.id);
          return reads.length === before;
        }, { timeout: 10_000 })
        .toBe(true);
      await database.db.update(users).set({ apiTokenPepper: "rotated-again" }).where(eq(users.id, user!.id));
      await notifyKeyStateChanged(database.db, { userId: user!.id });
      await expect.poll(() => cache.currentPepper(user!.id), { timeout: 5_000 }).toBe("rotated-again");
    } finally {
      await admin.end();
      await unlisten();
    }
  });

  it("reads through for as long as the subscription cannot prove itself live (LISTEN behind a pooler)", async () => {
    const [user] = await database.db.insert(users).values({ email: "deaf-listen@example.com" }).returning();
    // LISTEN on another database than the one notified: accepted, never delivered, like PgBouncer.
    const elsewhere = await createTestDatabase(driver);
    const handle = await openDatabase({
      url: database.url,
      listenUrl: elsewhere.url,
      driver,
      timeouts: { listenHeartbeatTimeoutMs: 200, listenMinBackoffMs: 50, listenMaxBackoffMs: 200 },
    });
    const reads: string[] = [];
    const source = databaseKeyStateSource(handle.db);
    const cache = new KeyStateCache({
      currentPepper: (userId) => {
        reads.push(userId);
        return source.currentPepper(userId);
      },
      instanceState: (instanceId) => source.instanceState(instanceId),
    });
    const unlisten = await cache.listen(handle);
    try {
      for (let round = 0; round < 3; round += 1) await cache.currentPepper(user!.id);
      expect(reads).toHaveLength(3);
      await database.db.update(users).set({ apiTokenPepper: "rotated-unheard" }).where(eq(users.id, user!.id));
      expect(await cache.currentPepper(user!.id)).toBe("rotated-unheard");
    } finally {
      await unlisten();
      await handle.close();
      await elsewhere.close();
    }
  });
});

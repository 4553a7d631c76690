import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idempotencyKeys, instanceEvents, instances, rateLimitWindows, signInAttempts, users } from "@/db/schema";
import { createTestDatabase, testDrivers, type TestDatabase } from "@/test/db";
import { pruneExpiredRecords } from "./prune";

const DAY = 24 * 60 * 60 * 1000;

describe.each(testDrivers())("retention on %s", (driver) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(driver);
  });
  afterAll(async () => {
    await database?.close();
  });

  it("audit events outlive their instance and their user", async () => {
    const [user] = await database.db.insert(users).values({ email: "gone@retention.test" }).returning();
    const [instance] = await database.db
      .insert(instances)
      .values({ ownerId: user!.id, name: "gone", provider: "local", region: "local", imageTag: "latest" })
      .returning();
    await database.db.insert(instanceEvents).values({ instanceId: instance!.id, userId: user!.id, actorType: "user", actorId: user!.id, action: "start", outcome: "success" });
    await database.db.delete(users).where(eq(users.id, user!.id));
    expect(await database.db.select().from(instances).where(eq(instances.id, instance!.id))).toEqual([]);
    const events = await database.db.select().from(instanceEvents).where(eq(instanceEvents.instanceId, instance!.id));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ userId: user!.id, action: "start" });
  });

  it("prunes only what is past its age, and a second pass finds nothing", async () => {
    const now = new Date();
    const ago = (ms: number) => new Date(now.getTime() - ms);
    await database.db.insert(signInAttempts).values([
      { key: "pair:old|192.0.2.1", failures: 3, windowStartedAt: ago(DAY + 60_000) },
      { key: "pair:new|192.0.2.1", failures: 3, windowStartedAt: ago(60_000) },
    ]);
    await database.db.insert(rateLimitWindows).values([
      { key: "ops:old", windowStart: ago(2 * DAY), hits: 3 },
      { key: "ops:new", windowStart: ago(60_000), hits: 3 },
    ]);
    const idempotency = (key: string, createdAt: Date) => ({ scope: "platform.provision", key, requestHash: "h", responseStatus: 201, responseBody: {}, createdAt });
    await database.db.insert(idempotencyKeys).values([idempotency("old", ago(DAY + 60_000)), idempotency("new", ago(DAY - 60_000))]);
    const event = (action: string, createdAt: Date) => ({ instanceId: null, userId: null, actorType: "system" as const, action, outcome: "success" as const, createdAt });
    await database.db.insert(instanceEvents).values([event("ancient", ago(31 * DAY)), event("recent", ago(29 * DAY))]);
    // A pepper change lists its owner for the overview's re-check; with no live key left to re-check, the pass forgets it.
    const [rotated] = await database.db.insert(users).values({ email: "rotated@retention.test" }).returning();
    await database.db.update(users).set({ apiTokenPepper: "rotated-pepper" }).where(eq(users.id, rotated!.id));

    const pruned = await pruneExpiredRecords(database.db, { now, eventRetentionDays: 30 });
    expect(pruned).toEqual({ signInAttempts: 1, rateLimitWindows: 1, idempotencyKeys: 1, instanceEvents: 1, pepperRechecks: 1 });
    expect((await database.db.select().from(signInAttempts)).map((row) => row.key)).toEqual(["pair:new|192.0.2.1"]);
    expect((await database.db.select().from(rateLimitWindows)).map((row) => row.key)).toEqual(["ops:new"]);
    expect((await database.db.select().from(idempotencyKeys)).map((row) => row.key)).toEqual(["new"]);
    const actions = (await database.db.select().from(instanceEvents)).map((row) => row.action);
    expect(actions).toContain("recent");
    expect(actions).not.toContain("ancient");
    expect(await pruneExpiredRecords(database.db, { now, eventRetentionDays: 30 })).toEqual({ signInAttempts: 0, rateLimitWindows: 0, idempotencyKeys: 0, instanceEvents: 0, pepperRechecks: 0 });
  });
});

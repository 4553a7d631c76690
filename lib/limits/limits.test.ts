import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instances, users } from "@/db/schema";
import { createTestDatabase, testDrivers, type TestDatabase } from "@/test/db";
import { isAppError } from "@/lib/errors";
import { provisionInstance, type ProvisionDeps } from "@/lib/instances/provision";
import { setUserInstanceQuota } from "./quota";
import { consumeRateLimit } from "./rate-limit";

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    if (isAppError(error)) return error.code;
    throw error;
  }
}

describe.each(testDrivers())("quotas and rate limits on %s", (driver) => {
  let database: TestDatabase;
  let deps: ProvisionDeps;
  const internal = { type: "internal", id: "platform-api" } as const;

  beforeAll(async () => {
    database = await createTestDatabase(driver);
    deps = {
      db: database.db,
      machines: { name: "local" },
      defaultRegion: "local",
      limits: { maxInstancesPerUser: 2, operationsPerMinute: 1_000 },
    };
  });
  afterAll(async () => {
    await database?.close();
  });

  async function createUser(): Promise<string> {
    const [row] = await database.db.insert(users).values({ email: `${crypto.randomUUID()}@quota.test` }).returning();
    return row!.id;
  }

  it("refuses the instance beyond the quota with the limit in the message; destroyed ones do not count", async () => {
    const userId = await createUser();
    const first = await provisionInstance({ userId, actor: internal }, deps);
    await provisionInstance({ userId, actor: internal }, deps);
    const refused = await provisionInstance({ userId, actor: internal }, deps).catch((error: unknown) => error);
    expect(isAppError(refused) && refused.code).toBe("quota_exceeded");
    expect(isAppError(refused) && refused.status).toBe(409);
    expect((refused as Error).message).toContain("at most 2 instances");

    await database.db.update(instances).set({ status: "destroyed", destroyedAt: new Date() }).where(eq(instances.id, first.id));
    expect(await codeOf(provisionInstance({ userId, actor: internal }, deps))).toBe("ok");
    expect(await codeOf(provisionInstance({ userId, actor: internal }, deps))).toBe("quota_exceeded");
  });

  it("an admin's per-user limit overrides the default, and null returns to it", async () => {
    const userId = await createUser();
    expect(await setUserInstanceQuota(database.db, userId, 3)).toBe(true);
    for (let index = 0; index < 3; index++) expect(await codeOf(provisionInstance({ userId, actor: internal }, deps))).toBe("ok");
    expect(await codeOf(provisionInstance({ userId, actor: internal }, deps))).toBe("quota_exceeded");
    await setUserInstanceQuota(database.db, userId, 0);
    expect(await codeOf(provisionInstance({ userId, actor: internal }, deps))).toBe("quota_exceeded");
    await setUserInstanceQuota(database.db, userId, null);
    expect(await codeOf(provisionInstance({ userId, actor: internal }, deps))).toBe("quota_exceeded");
    expect(await setUserInstanceQuota(database.db, crypto.randomUUID(), 1)).toBe(false);
  });

  it("two racing creates at the limit: exactly one wins", async () => {
    for (let round = 0; round < 3; round++) {
      const userId = await createUser();
      await provisionInstance({ userId, actor: internal }, deps);
      const codes = await Promise.all([0, 1].map(() => codeOf(provisionInstance({ userId, actor: internal }, deps))));
      expect(codes.sort()).toEqual(["ok", "quota_exceeded"]);
      const rows = await database.db.select().from(instances).where(eq(instances.ownerId, userId));
      expect(rows).toHaveLength(2);
    }
  });

  it("rate limit: the limit-th call passes, the next is 429 with Retry-After until the window ends", async () => {
    const rate = { key: `test:${crypto.randomUUID()}`, limit: 3, windowMs: 60_000 };
    const windowStart = Math.floor(Date.now() / 60_000) * 60_000;
    const at = (ms: number) => new Date(windowStart + ms);
    for (let call = 0; call < 3; call++) await consumeRateLimit(database.db, rate, at(1_000));
    const refused = await consumeRateLimit(database.db, rate, at(15_500)).catch((error: unknown) => error);
    expect(isAppError(refused) && refused.code).toBe("rate_limited");
    expect(isAppError(refused) && refused.status).toBe(429);
    expect(isAppError(refused) && refused.details).toEqual({ retryAfterSeconds: 45 });
    await expect(consumeRateLimit(database.db, rate, at(60_000))).resolves.toBeUndefined();
  });

  it("rate limit: concurrent calls never exceed the limit", async () => {
    const rate = { key: `test:${crypto.randomUUID()}`, limit: 5, windowMs: 60_000 };
    const now = new Date();
    const codes = await Promise.all(Array.from({ length: 12 }, () => codeOf(consumeRateLimit(database.db, rate, now))));
    expect(codes.filter((code) => code === "ok")).toHaveLength(5);
    expect(codes.filter((code) => code === "rate_limited")).toHaveLength(7);
  });

  it("a user's creates count against their operation rate limit; internal callers are not limited", async () => {
    const userId = await createUser();
    await setUserInstanceQuota(database.db, userId, 100);
    const limited = { ...deps, limits: { maxInstancesPerUser: 100, operationsPerMinute: 2 } };
    const user = { type: "user", id: userId } as const;
    expect(await codeOf(provisionInstance({ userId, actor: user }, limited))).toBe("ok");
    expect(await codeOf(provisionInstance({ userId, actor: user }, limited))).toBe("ok");
    expect(await codeOf(provisionInstance({ userId, actor: user }, limited))).toBe("rate_limited");
    expect(await codeOf(provisionInstance({ userId, actor: internal }, limited))).toBe("ok");
  });
});

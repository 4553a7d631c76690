import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idempotencyKeys, instanceEvents, instances, users, type UserRow } from "@/db/schema";
import { createTestDatabase, testDrivers, type TestDatabase } from "@/test/db";
import { AppError, isAppError } from "@/lib/errors";
import { hashRequest, runIdempotently } from "./idempotency";
import { PROVISION_SCOPE, provisionInstanceIdempotently } from "./provision";

describe("hashRequest", () => {
  it("ignores key order and undefined members, and tells different requests apart", () => {
    expect(hashRequest({ a: 1, b: { c: [1, 2], d: "x" } })).toBe(hashRequest({ b: { d: "x", c: [1, 2] }, a: 1, e: undefined }));
    expect(hashRequest({ a: 1 })).not.toBe(hashRequest({ a: "1" }));
    expect(hashRequest({ a: [1, 2] })).not.toBe(hashRequest({ a: [2, 1] }));
  });
});

describe.each(testDrivers())("idempotent provisioning (%s)", (driver) => {
  let database: TestDatabase;
  let owner: UserRow;
  const deps = () => ({ db: database.db, machines: { name: "local" as const }, defaultRegion: "local", now: () => new Date() });

  beforeAll(async () => {
    database = await createTestDatabase(driver);
    [owner] = (await database.db.insert(users).values({ email: "idem@api.test" }).returning()) as [UserRow];
  }, 60_000);

  afterAll(async () => {
    await database?.close();
  });

  it("does the work once per key and replays the stored response to repeats", async () => {
    let calls = 0;
    const claim = { scope: "test", key: randomUUID(), request: { a: 1, b: 2 } };
    const work = async () => ({ status: 201, body: { call: ++calls }, resourceId: null });
    const first = await runIdempotently(database.db, claim, work);
    const second = await runIdempotently(database.db, { ...claim, request: { b: 2, a: 1 } }, work);
    expect(first).toMatchObject({ status: 201, body: { call: 1 }, replayed: false });
    expect(second).toMatchObject({ status: 201, body: { call: 1 }, replayed: true });
    expect(calls).toBe(1);
    // Another scope with the same key is another key.
    expect(await runIdempotently(database.db, { ...claim, scope: "other" }, work)).toMatchObject({ body: { call: 2 }, replayed: false });
  });

  it("refuses the same key with another request (409 conflict)", async () => {
    const key = randomUUID();
    await runIdempotently(database.db, { scope: "test", key, request: { a: 1 } }, async () => ({ status: 200, body: {} }));
    const error = await runIdempotently(database.db, { scope: "test", key, request: { a: 2 } }, async () => ({ status: 200, body: {} })).catch((caught: unknown) => caught);
    expect(isAppError(error) && error.code).toBe("conflict");
  });

  it("forgets a key whose work failed (nothing written survives), so a retry does the work", async () => {
    const key = randomUUID();
    const failing = runIdempotently(database.db, { scope: "test", key, request: {} }, async (tx) => {
      await tx.insert(users).values({ email: `${key}@rolled-back.test` });
      throw new AppError("machine_error", "boom");
    });
    await expect(failing).rejects.toMatchObject({ code: "machine_error" });
    expect(await database.db.select().from(users).where(eq(users.email, `${key}@rolled-back.test`))).toEqual([]);
    expect(await database.db.select().from(idempotencyKeys).where(eq(idempotencyKeys.key, key))).toEqual([]);
    expect(await runIdempotently(database.db, { scope: "test", key, request: {} }, async () => ({ status: 201, body: { ok: true } }))).toMatchObject({
      replayed: false,
    });
  });

  it("12 concurrent provisions with one key create one instance, and all answer with it", async () => {
    const key = randomUUID();
    const results = await Promise.all(
      Array.from({ length: 12 }, () => provisionInstanceIdempotently({ userId: owner.id, name: "raced", idempotencyKey: key }, deps())),
    );
    expect(new Set(results.map((result) => result.instance.id)).size).toBe(1);
    expect(results.filter((result) => !result.replayed)).toHaveLength(1);
    const rows = await database.db.select().from(instances).where(eq(instances.name, "raced"));
    expect(rows).toHaveLength(1);
    const events = await database.db.select().from(instanceEvents).where(eq(instanceEvents.instanceId, rows[0]!.id));
    expect(events.map((event) => [event.action, event.actorType])).toEqual([["provision", "internal"]]);
    const [stored] = await database.db.select().from(idempotencyKeys).where(eq(idempotencyKeys.key, key));
    expect(stored).toMatchObject({ scope: PROVISION_SCOPE, resourceId: rows[0]!.id, responseStatus: 201 });
  });

  it("an unknown user is not_found and leaves neither an instance nor the key behind; without a key every call creates one", async () => {
    const key = randomUUID();
    const error = await provisionInstanceIdempotently({ userId: randomUUID(), idempotencyKey: key }, deps()).catch((caught: unknown) => caught);
    expect(isAppError(error) && error.code).toBe("not_found");
    expect(await database.db.select().from(idempotencyKeys).where(eq(idempotencyKeys.key, key))).toEqual([]);
    const a = await provisionInstanceIdempotently({ userId: owner.id, name: "keyless" }, deps());
    const b = await provisionInstanceIdempotently({ userId: owner.id, name: "keyless" }, deps());
    expect(a.instance.id).not.toBe(b.instance.id);
  });
});

import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instanceEvents, instances, type UserRow } from "@/db/schema";
import { createTestDatabase, testDrivers, type TestDatabase } from "@/test/db";
import { NOW, seedSearchFleet } from "@/test/admin/fleet-fixture";
import { isAppError } from "@/lib/errors";
import { listInstanceEventsForAdmin } from "./fleet-events";
import { getFleetInstanceRecordOrThrow, listInstanceTimeline, toFleetInstanceDto } from "./instance-detail";

describe.each(testDrivers())("admin instance detail, timeline and events (%s)", (driver) => {
  let database: TestDatabase;
  let admin: UserRow;
  let owner: UserRow;
  let instanceId: string;

  beforeAll(async () => {
    database = await createTestDatabase(driver);
    const seeded = await seedSearchFleet(database.db);
    [owner, admin] = [seeded.users[0]!, seeded.users[3]!];
    instanceId = seeded.instances[0]!.id;
  }, 120_000);

  afterAll(async () => {
    await database?.close();
  });

  it("the timeline pages newest first by event id and names the accounts that acted", async () => {
    const base = { instanceId, userId: owner.id, outcome: "success" as const };
    await database.db.insert(instanceEvents).values([
      { ...base, actorType: "user", actorId: owner.id, action: "provision" },
      { ...base, actorType: "admin", actorId: admin.id, action: "redeploy", keyId: "key_000000000001" },
      { ...base, actorType: "scheduler", actorId: "refresh", action: "refresh" },
      { ...base, actorType: "admin", actorId: randomUUID(), action: "stop" },
      { ...base, actorType: "internal", actorId: "platform-api", action: "start" },
    ]);
    const first = await listInstanceTimeline(database.db, instanceId, { limit: 3 });
    expect(first.events.map((event) => event.action)).toEqual(["start", "stop", "refresh"]);
    expect(first.events.map((event) => event.actorAccount)).toEqual([null, null, null]);
    expect(first.olderBefore).toBe(first.events[2]!.id);
    const older = await listInstanceTimeline(database.db, instanceId, { limit: 3, before: first.olderBefore! });
    expect(older.events.map((event) => [event.action, event.actorAccount])).toEqual([
      ["redeploy", { email: "zed@search.test", name: "Zed Admin" }],
      ["provision", { email: "ab%c@search.test", name: null }],
    ]);
    expect(older.olderBefore).toBeNull();
    const error = await listInstanceTimeline(database.db, "nope", { limit: 3 }).catch((caught: unknown) => caught);
    expect(isAppError(error) && error.code).toBe("not_found");
  });

  it("any instance with its owner, destroyed ones too; unknown ids are not_found", async () => {
    const record = await getFleetInstanceRecordOrThrow(database.db, instanceId);
    expect(toFleetInstanceDto(record, NOW)).toMatchObject({ id: instanceId, name: "s0", owner: { id: owner.id, email: "ab%c@search.test", name: null } });
    for (const id of [randomUUID(), "nope"]) {
      const error = await getFleetInstanceRecordOrThrow(database.db, id).catch((caught: unknown) => caught);
      expect(isAppError(error) && error.code).toBe("not_found");
    }
  });

  it("events: any instance's history (destroyed ones too), 404 for unknown or malformed ids", async () => {
    const [destroyed] = await database.db
      .insert(instances)
      .values({ ownerId: owner.id, name: "destroyed", provider: "local", region: "local", imageTag: "latest", status: "destroyed", destroyedAt: NOW })
      .returning();
    await database.db.insert(instanceEvents).values({ instanceId: destroyed!.id, userId: destroyed!.ownerId, actorType: "internal", actorId: "platform-api", action: "destroy", outcome: "success" });
    const events = await listInstanceEventsForAdmin(database.db, destroyed!.id, { limit: 10 });
    expect(events).toEqual([expect.objectContaining({ action: "destroy", actorType: "internal" })]);
    for (const id of [randomUUID(), "nope"]) {
      const error = await listInstanceEventsForAdmin(database.db, id, { limit: 10 }).catch((caught: unknown) => caught);
      expect(isAppError(error) && error.code).toBe("not_found");
    }
  });
});

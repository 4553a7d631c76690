import { count, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instances, users } from "@/db/schema";
import { queryRows } from "@/db/client";
import { createTestDatabase, type TestDatabase } from "@/db/testing";
import { computeKeyHealth } from "@/lib/instances/key-health";
import { seedFleet } from "./seed-fleet";

describe("seedFleet", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase("pglite");
  });
  afterAll(async () => {
    await database?.close();
  });

  it("inserts the requested instances and owners with a spread of statuses and key health", async () => {
    const result = await seedFleet(database.db, { count: 2_000, instancesPerUser: 4, seed: 0.42 });
    expect(result).toEqual({ users: 500, instances: 2_000 });
    const [instanceCount] = await database.db.select({ value: count() }).from(instances);
    const [userCount] = await database.db.select({ value: count() }).from(users);
    expect(instanceCount?.value).toBe(2_000);
    expect(userCount?.value).toBe(500);

    const statuses = await queryRows<{ status: string }>(database.db, sql`select distinct status from instances`);
    expect(statuses.map((row) => row.status).sort()).toEqual(["failed", "provisioned", "running", "stopped"]);
    const rows = await database.db.select().from(instances);
    const health = new Set(rows.map((row) => computeKeyHealth(row, null, new Date())));
    for (const bucket of ["ok", "expiring", "critical", "expired", "revoked", "unknown", "undeployed"]) {
      expect(health).toContain(bucket);
    }
  });
});

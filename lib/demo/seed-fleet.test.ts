import { count, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instances, users } from "@/db/schema";
import { queryRows } from "@/db/client";
import { createTestDatabase, type TestDatabase } from "@/test/db";
import { computeKeyHealth } from "@/lib/instances/key-health";
import { pepperFingerprint } from "@/lib/keys/fingerprints";
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
    const owners = await database.db.select().from(users);
    const fingerprints = new Map(owners.map((owner) => [owner.id, pepperFingerprint(owner.apiTokenPepper)]));
    const now = new Date();
    const health = rows.map((row) => computeKeyHealth(row, fingerprints.get(row.ownerId)!, now, null));
    for (const bucket of ["ok", "expiring", "critical", "expired", "revoked", "unknown", "undeployed"]) {
      expect(health).toContain(bucket);
    }
    // Keys are minted under the owner's current pepper unless a rotation revoked them: a few, not most.
    const revoked = health.filter((value) => value === "revoked").length;
    expect(revoked / rows.length).toBeLessThan(0.06);
    expect(health.filter((value) => value === "ok").length / rows.length).toBeGreaterThan(0.5);
  });
});

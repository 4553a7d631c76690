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

  it("a large load rebuilds the same keys, indexes and foreign keys it dropped, and signs keys under the given ring", async () => {
    const schema = async () =>
      queryRows<{ definition: string }>(
        database.db,
        sql`select indexdef as definition from pg_indexes where tablename in ('users', 'instances')
            union all
            select conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) from pg_constraint
            where conrelid in ('users'::regclass, 'instances'::regclass) or confrelid in ('users'::regclass, 'instances'::regclass)
            order by 1`,
      );
    const before = await schema();
    expect(before.some((row) => row.definition.includes("instances_owner_id_users_id_fk"))).toBe(true);
    const signingKeys = { current: "kid_current0000", previous: ["kid_previous000"] };
    await seedFleet(database.db, { count: 1_000, seed: 0.7, rebuildIndexes: true, signingKeys });
    expect(await schema()).toEqual(before);
    const kids = await queryRows<{ kid: string | null; n: number }>(
      database.db,
      sql`select key_signing_kid as kid, count(*)::int as n from instances where key_signing_kid is not null group by 1 order by 2 desc`,
    );
    // Most keys under the current secret, a few under the previous one.
    expect(kids.map((row) => row.kid)).toEqual(["kid_current0000", "kid_previous000"]);
    expect(kids[1]!.n / (kids[0]!.n + kids[1]!.n)).toBeLessThan(0.15);
  });
});

import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queryRows } from "@/db";
import { instanceEvents, instances, users, type NewInstanceRow, type UserRow } from "@/db/schema";
import { createTestDatabase, realPostgresDrivers, testDrivers, type TestDatabase } from "@/db/testing";
import { isAppError } from "@/lib/errors";
import { computeKeyHealth } from "@/lib/instances/key-health";
import { keyHealthValues, type KeyHealth } from "@/lib/instances/schemas";
import { pepperFingerprint } from "@/lib/keys/fingerprints";
import { countKeyHealth, fleetPageQuery, keyHealthSql, listFleetInstances, listInstanceEventsForAdmin, type FleetInstanceDto } from "./fleet";
import { fleetQuerySchema, fleetSortValues, instanceStatusValues, type FleetQuery } from "./schemas";

const DAY = 24 * 3600 * 1000;
const NOW = new Date("2031-03-01T12:00:00.000Z");
const at = (ms: number) => new Date(NOW.getTime() + ms);
const query = (input: Record<string, unknown> = {}): FleetQuery => fleetQuerySchema.parse(input);

/** Every combination of the fields computeKeyHealth reads, boundaries included. */
function healthCombinations(owner: UserRow): Partial<NewInstanceRow>[] {
  const current = pepperFingerprint(owner.apiTokenPepper);
  const rows: Partial<NewInstanceRow>[] = [];
  for (const keyRevokedAt of [null, at(-DAY)])
    for (const keyPepperFingerprint of [null, current, "pf_stale0000000"])
      for (const [keyId, deployedKeyId] of [[null, null], ["key_a", "key_a"], ["key_a", null], ["key_a", "key_b"], [null, "key_b"]])
        for (const keyExpiresAt of [null, at(-DAY), at(3 * DAY), at(20 * DAY)])
          for (const deployedKeyExpiresAt of [null, at(0), at(-1), at(1), at(3 * DAY), at(3 * DAY + 1), at(7 * DAY), at(7 * DAY + 1), at(30 * DAY)])
            rows.push({ keyRevokedAt, keyPepperFingerprint, keyId, deployedKeyId, keyExpiresAt, deployedKeyExpiresAt });
  return rows;
}

describe.each(testDrivers())("admin fleet queries (%s)", (driver) => {
  let database: TestDatabase;
  let owners: UserRow[];
  let live: { id: string; ownerId: string; health: KeyHealth; status: string }[];

  beforeAll(async () => {
    database = await createTestDatabase(driver);
    owners = await database.db
      .insert(users)
      .values([{ email: "a@fleet.test" }, { email: "b@fleet.test" }])
      .returning();
    const statuses = instanceStatusValues.filter((status) => status !== "destroyed");
    const values = owners.flatMap((owner, ownerIndex) =>
      healthCombinations(owner).map((combination, index) => ({
        ownerId: owner.id,
        name: `i${ownerIndex}-${index}`,
        provider: "local" as const,
        region: "local",
        imageTag: "latest",
        status: statuses[index % statuses.length]!,
        // Coarse values, so the sorts meet plenty of ties.
        lastActivityAt: at(-(index % 5) * 1000),
        ...combination,
      })),
    );
    for (let start = 0; start < values.length; start += 500) await database.db.insert(instances).values(values.slice(start, start + 500));
    await database.db.insert(instances).values({
      ownerId: owners[0]!.id,
      name: "destroyed",
      provider: "local",
      region: "local",
      imageTag: "latest",
      status: "destroyed",
      destroyedAt: at(-DAY),
    });
    const rows = await database.db.select().from(instances);
    const fingerprints = new Map(owners.map((owner) => [owner.id, pepperFingerprint(owner.apiTokenPepper)]));
    live = rows
      .filter((row) => !row.destroyedAt)
      .map((row) => ({ id: row.id, ownerId: row.ownerId, status: row.status, health: computeKeyHealth(row, fingerprints.get(row.ownerId)!, NOW) }));
  }, 120_000);

  afterAll(async () => {
    await database?.close();
  });

  it("the SQL key health agrees with computeKeyHealth on every combination", async () => {
    const rows = await database.db
      .select({ id: instances.id, health: keyHealthSql(NOW) })
      .from(instances)
      .innerJoin(users, eq(users.id, instances.ownerId));
    const sqlHealth = new Map(rows.map((row) => [row.id, row.health]));
    const disagreements = live.filter((row) => sqlHealth.get(row.id) !== row.health);
    expect(disagreements).toEqual([]);
    // Every bucket is exercised.
    expect(new Set(live.map((row) => row.health))).toEqual(new Set(keyHealthValues));
  });

  it("counts per bucket equal the histogram of computeKeyHealth", async () => {
    const counts = await countKeyHealth(database.db, NOW);
    expect(counts.total).toBe(live.length);
    for (const health of keyHealthValues) expect(counts.buckets[health], health).toBe(live.filter((row) => row.health === health).length);
  });

  async function walk(input: Record<string, unknown>): Promise<FleetInstanceDto[]> {
    const seen: FleetInstanceDto[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 1000; pages++) {
      const page = await listFleetInstances(database.db, query({ ...input, cursor }), NOW);
      seen.push(...page.instances);
      if (!page.nextCursor) return seen;
      cursor = page.nextCursor;
    }
    throw new Error("pagination did not end");
  }

  it("keyset pages cover every filter result exactly once, in (sort, id) order, in every sort and order", async () => {
    const keyOf = (instance: FleetInstanceDto, sort: string) =>
      sort === "status"
        ? instanceStatusValues.indexOf(instance.status)
        : sort === "lastActivityAt"
          ? instance.lastActivityAt
          : sort === "keyExpiresAt"
            ? instance.config.keyExpiresAt
            : instance.config.deployedKeyExpiresAt;
    for (const sort of fleetSortValues) {
      for (const order of ["asc", "desc"] as const) {
        const seen = await walk({ sort, order, limit: 97, keyHealth: ["ok", "revoked", "unknown", "expired"] });
        const sign = order === "asc" ? 1 : -1;
        expect(new Set(seen.map((instance) => instance.id)).size).toBe(seen.length);
        expect(seen.length).toBe(live.filter((row) => ["ok", "revoked", "unknown", "expired"].includes(row.health)).length);
        for (let index = 1; index < seen.length; index++) {
          const [a, b] = [seen[index - 1]!, seen[index]!];
          const [ka, kb] = [keyOf(a, sort), keyOf(b, sort)];
          const inOrder =
            ka === kb
              ? (a.id < b.id ? 1 : -1) * sign > 0
              : ka === null
                ? order === "desc"
                : kb === null
                  ? order === "asc"
                  : (ka < kb ? 1 : -1) * sign > 0;
          expect(inOrder, `${sort} ${order} at ${index}: ${JSON.stringify([ka, a.id, kb, b.id])}`).toBe(true);
        }
      }
    }
  });

  it("filters by health, status and owner agree with the pure function", async () => {
    for (const health of keyHealthValues) {
      const ids = (await walk({ keyHealth: [health], limit: 100 })).map((instance) => instance.id).sort();
      expect(ids, health).toEqual(live.filter((row) => row.health === health).map((row) => row.id).sort());
    }
    const combined = await walk({ keyHealth: ["critical", "expiring"], status: ["running", "failed"], owner: "B@fleet.test", limit: 100 });
    expect(combined.map((instance) => instance.id).sort()).toEqual(
      live
        .filter((row) => ["critical", "expiring"].includes(row.health) && ["running", "failed"].includes(row.status) && row.ownerId === owners[1]!.id)
        .map((row) => row.id)
        .sort(),
    );
    expect(combined.every((instance) => instance.owner.email === "b@fleet.test")).toBe(true);
    expect((await walk({ status: ["destroyed"] })).map((instance) => instance.name)).toEqual(["destroyed"]);
    expect((await walk({ limit: 100 })).some((instance) => instance.name === "destroyed")).toBe(false);
  });

  it("refuses tampered cursors and cursors of another sort with bad_request", async () => {
    const { nextCursor } = await listFleetInstances(database.db, query({ limit: 1, sort: "lastActivityAt" }), NOW);
    const forge = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    for (const [input, cursor] of [
      [{ sort: "lastActivityAt" }, "%%%"],
      [{ sort: "lastActivityAt" }, forge({ sort: "lastActivityAt", order: "asc", value: "12:00", id: randomUUID() })],
      [{ sort: "lastActivityAt" }, forge({ sort: "lastActivityAt", order: "asc", value: null, id: randomUUID() })],
      [{ sort: "deployedKeyExpiresAt" }, forge({ sort: "deployedKeyExpiresAt", order: "asc", value: "1".repeat(17), id: randomUUID() })],
      [{ sort: "status" }, forge({ sort: "status", order: "asc", value: "gone", id: randomUUID() })],
      [{ sort: "status" }, nextCursor],
      [{ sort: "lastActivityAt", order: "desc" }, nextCursor],
    ] as const) {
      const error = await listFleetInstances(database.db, query({ ...input, cursor }), NOW).catch((caught: unknown) => caught);
      expect(isAppError(error) && error.code, JSON.stringify(input)).toBe("bad_request");
    }
    // A far-away but well-formed timestamp is simply past every row.
    const far = forge({ sort: "deployedKeyExpiresAt", order: "asc", value: "9".repeat(16), id: randomUUID() });
    const page = await listFleetInstances(database.db, query({ sort: "deployedKeyExpiresAt", cursor: far, limit: 5 }), NOW);
    expect(page.instances.every((instance) => instance.config.deployedKeyExpiresAt === null)).toBe(true);
  });

  it("events: any instance's history (destroyed ones too), 404 for unknown or malformed ids", async () => {
    const [destroyed] = await database.db.select().from(instances).where(eq(instances.name, "destroyed"));
    await database.db.insert(instanceEvents).values({ instanceId: destroyed!.id, userId: destroyed!.ownerId, actorType: "internal", actorId: "platform-api", action: "destroy", outcome: "success" });
    const events = await listInstanceEventsForAdmin(database.db, destroyed!.id, { limit: 10 });
    expect(events).toEqual([expect.objectContaining({ action: "destroy", actorType: "internal" })]);
    for (const id of [randomUUID(), "nope"]) {
      const error = await listInstanceEventsForAdmin(database.db, id, { limit: 10 }).catch((caught: unknown) => caught);
      expect(isAppError(error) && error.code).toBe("not_found");
    }
  });
});

describe.each(realPostgresDrivers())("admin fleet query plans (%s)", (driver) => {
  let database: TestDatabase;
  let client: pg.Client;

  beforeAll(async () => {
    database = await createTestDatabase(driver);
    const [owner] = await database.db.insert(users).values({ email: "plan@fleet.test" }).returning();
    await database.db.execute(sql`
      insert into instances (owner_id, name, provider, region, image_tag, status, deployed_key_expires_at, key_expires_at)
      select ${owner!.id}, 'i' || n, 'local', 'local', 'latest', (array['running','stopped','failed'])[1 + n % 3]::instance_status,
             now() + (n % 40) * interval '1 day', now() + (n % 40) * interval '1 day'
      from generate_series(1, 5000) n`);
    await database.db.execute(sql`analyze instances`);
    client = new pg.Client({ connectionString: database.url });
    await client.connect();
  }, 120_000);

  afterAll(async () => {
    await client?.end();
    await database?.close();
  });

  async function plan(input: Record<string, unknown>, options: { allowSort?: boolean } = {}): Promise<string> {
    const { sql: text, params } = fleetPageQuery(database.db, query(input), new Date()).toSQL();
    await client.query("begin");
    try {
      // Make anything but an index scan look hopeless: if the index cannot serve the order, a Sort shows up anyway.
      await client.query("set local enable_seqscan = off");
      if (!options.allowSort) await client.query("set local enable_sort = off");
      const result = await client.query<{ "QUERY PLAN": string }>(`explain ${text}`, params as unknown[]);
      return result.rows.map((row) => row["QUERY PLAN"]).join("\n");
    } finally {
      await client.query("rollback");
    }
  }

  it("every sort, both orders, first and later pages, walks its (column, id) index without sorting", async () => {
    const indexes = {
      deployedKeyExpiresAt: "instances_deployed_expiry_idx",
      keyExpiresAt: "instances_key_expiry_idx",
      lastActivityAt: "instances_last_activity_idx",
      status: "instances_status_idx",
    };
    for (const sort of fleetSortValues) {
      for (const order of ["asc", "desc"] as const) {
        const first = await listFleetInstances(database.db, query({ sort, order, limit: 10 }), new Date());
        for (const cursor of [undefined, first.nextCursor!]) {
          const text = await plan({ sort, order, limit: 10, cursor });
          expect(text, `${sort} ${order}\n${text}`).toContain(indexes[sort]);
          expect(text, `${sort} ${order}\n${text}`).not.toMatch(/\bSort\b/);
        }
      }
    }
  });

  it("an expiry-based health filter can use the expiry indexes", async () => {
    const text = await plan({ keyHealth: ["critical"], sort: "lastActivityAt" }, { allowSort: true });
    expect(text).toMatch(/instances_(deployed_)?(key_)?expiry_idx/);
    const rows = await queryRows<{ n: string }>(database.db, sql`select count(*)::text as n from instances`);
    expect(Number(rows[0]!.n)).toBe(5000);
  });
});

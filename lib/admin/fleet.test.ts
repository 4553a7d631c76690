import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queryRows } from "@/db";
import { instanceEvents, instances, users, type NewInstanceRow, type UserRow } from "@/db/schema";
import { createTestDatabase, realPostgresDrivers, testDrivers, type TestDatabase } from "@/test/db";
import { resetEnvForTests } from "@/shared/env";
import { isAppError } from "@/lib/errors";
import { keyRingIds, signingKeyIdOf } from "@/lib/tokens/key-ring";
import { computeKeyHealth } from "@/lib/instances/key-health";
import { keyHealthValues, type KeyHealth } from "@/lib/instances/schemas";
import { pepperFingerprint } from "@/lib/keys/fingerprints";
import {
  countKeyHealth,
  fleetPageQueries,
  getFleetOverview,
  keyHealthSql,
  listBulkTargets,
  listFleetInstances,
  listFleetPage,
  listInstanceEventsForAdmin,
  type FleetInstanceDto,
} from "./fleet";
import { getFleetInstanceRecordOrThrow, listInstanceTimeline, toFleetInstanceDto } from "./instance-detail";
import { FRESH_MS, getCachedFleetOverview, invalidateFleetOverview, MAX_STALE_MS } from "./overview-cache";
import { fleetQuerySchema, fleetSortValues, instanceStatusValues, type FleetQuery } from "./schemas";

// The key ring the SQL twin and computeKeyHealth judge stored kids against (this process's ring).
const CURRENT_SECRET = "fleet-test-current-".padEnd(48, "c");
const PREVIOUS_SECRET = "fleet-test-previous-".padEnd(48, "p");
process.env.NEXTAUTH_SECRET = CURRENT_SECRET;
process.env.NEXTAUTH_SECRET_PREVIOUS = PREVIOUS_SECRET;
resetEnvForTests();
const SIGNING_KEYS = keyRingIds({ current: CURRENT_SECRET, previous: [PREVIOUS_SECRET] });
const KIDS = [null, SIGNING_KEYS.current, SIGNING_KEYS.previous[0]!, signingKeyIdOf("a-retired-secret-".padEnd(48, "r"))];

const DAY = 24 * 3600 * 1000;
const NOW = new Date("2031-03-01T12:00:00.000Z");
const at = (ms: number) => new Date(NOW.getTime() + ms);
const query = (input: Record<string, unknown> = {}): FleetQuery => fleetQuerySchema.parse(input);

interface FleetPageWithIds {
  ids: string[];
  prevCursor: string | null;
  nextCursor: string | null;
}

/**
 * Every combination of the fields computeKeyHealth reads, boundaries included; the signing kid
 * (none, current, previous, retired) rotates through the combinations rather than multiplying them.
 */
function healthCombinations(owner: UserRow): Partial<NewInstanceRow>[] {
  const current = pepperFingerprint(owner.apiTokenPepper);
  const rows: Partial<NewInstanceRow>[] = [];
  for (const keyRevokedAt of [null, at(-DAY)])
    for (const keyPepperFingerprint of [null, current, "pf_stale0000000"])
      for (const [keyId, deployedKeyId] of [[null, null], ["key_a", "key_a"], ["key_a", null], ["key_a", "key_b"], [null, "key_b"]])
        for (const keyExpiresAt of [null, at(-DAY), at(3 * DAY), at(20 * DAY)])
          for (const deployedKeyExpiresAt of [null, at(0), at(-1), at(1), at(3 * DAY), at(3 * DAY + 1), at(7 * DAY), at(7 * DAY + 1), at(30 * DAY)])
            rows.push({
              keyRevokedAt,
              keyPepperFingerprint,
              keyId,
              deployedKeyId,
              keyExpiresAt,
              deployedKeyExpiresAt,
              keySigningKid: KIDS[rows.length % KIDS.length],
              deployedKeySigningKid: KIDS[(rows.length + 1) % KIDS.length],
            });
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
      .map((row) => ({ id: row.id, ownerId: row.ownerId, status: row.status, health: computeKeyHealth(row, fingerprints.get(row.ownerId)!, NOW, SIGNING_KEYS) }));
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
      sort === "owner"
        ? instance.owner.email
        : sort === "status"
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

  it("prevCursor walks back over exactly the pages walked forward, in every sort and order", async () => {
    for (const sort of fleetSortValues) {
      for (const order of ["asc", "desc"] as const) {
        const forward: FleetPageWithIds[] = [];
        let cursor: string | undefined;
        do {
          const page = await listFleetPage(database.db, query({ sort, order, limit: 61, keyHealth: ["ok", "critical", "unknown"], cursor }), NOW);
          forward.push({ ids: page.instances.map((instance) => instance.id), prevCursor: page.prevCursor, nextCursor: page.nextCursor });
          cursor = page.nextCursor ?? undefined;
        } while (cursor);
        expect(forward.length, `${sort} ${order}`).toBeGreaterThan(2);
        expect(forward[0]!.prevCursor).toBeNull();
        // From the last page, Previous retraces every page; Next from a page reached backwards goes forward again.
        let back = forward.at(-1)!.prevCursor;
        for (let index = forward.length - 2; index >= 0; index--) {
          const page = await listFleetPage(database.db, query({ sort, order, limit: 61, keyHealth: ["ok", "critical", "unknown"], cursor: back! }), NOW);
          expect(page.instances.map((instance) => instance.id), `${sort} ${order} page ${index}`).toEqual(forward[index]!.ids);
          expect(page.prevCursor === null, `${sort} ${order} page ${index}`).toBe(index === 0);
          const again = await listFleetPage(database.db, query({ sort, order, limit: 61, keyHealth: ["ok", "critical", "unknown"], cursor: page.nextCursor! }), NOW);
          expect(again.instances.map((instance) => instance.id)).toEqual(forward[index + 1]!.ids);
          back = page.prevCursor;
        }
      }
    }
  });

  it("the overview agrees with computeKeyHealth per bucket, counts per status, and bins usable keys by days to expiry", async () => {
    const overview = await getFleetOverview(database.db, NOW);
    const counts = await countKeyHealth(database.db, NOW);
    expect({ total: overview.total, buckets: overview.buckets }).toEqual({ total: counts.total, buckets: counts.buckets });
    for (const status of instanceStatusValues.filter((value) => value !== "destroyed")) {
      expect(overview.statuses[status], status).toBe(live.filter((row) => row.status === status).length);
      for (const health of keyHealthValues) {
        expect(overview.statusHealth[status][health], `${status} ${health}`).toBe(live.filter((row) => row.status === status && row.health === health).length);
      }
    }
    const rows = new Map((await database.db.select().from(instances)).map((row) => [row.id, row]));
    const expected = Array.from({ length: 30 }, () => 0);
    let previousWithinAWeek = 0;
    for (const row of live) {
      if (!["ok", "previous_signing_key", "expiring", "critical"].includes(row.health)) continue;
      const full = rows.get(row.id)!;
      const days = Math.ceil(((full.deployedKeyExpiresAt ?? full.keyExpiresAt)!.getTime() - NOW.getTime()) / DAY);
      if (days >= 1 && days <= 30) expected[days - 1]! += 1;
      if (row.health === "previous_signing_key" && days >= 4 && days <= 7) previousWithinAWeek += 1;
    }
    expect(overview.expiringPerDay).toEqual(expected);
    // Days 1-3 are exactly the critical keys, 4-7 the expiring ones (and keys under a previous secret that expire then).
    expect(overview.expiringPerDay.slice(0, 3).reduce((a, b) => a + b, 0)).toBe(overview.buckets.critical);
    expect(overview.expiringPerDay.slice(3, 7).reduce((a, b) => a + b, 0)).toBe(overview.buckets.expiring + previousWithinAWeek);
    expect(previousWithinAWeek).toBeGreaterThan(0);
  });

  it("counts running instances by the secret their deployed key is signed under", async () => {
    const overview = await getFleetOverview(database.db, NOW);
    const rows = (await database.db.select().from(instances)).filter((row) => !row.destroyedAt && row.status === "running");
    const signerOf = (kid: string | null) =>
      kid === null ? "unrecorded" : kid === SIGNING_KEYS.current ? "current" : SIGNING_KEYS.previous.includes(kid) ? "previous" : "retired";
    const expected = { current: 0, previous: 0, retired: 0, unrecorded: 0 };
    for (const row of rows) expected[signerOf(row.deployedKeySigningKid)] += 1;
    expect(overview.runningBySigner).toEqual(expected);
  });

  it("the overview's earliest running expiry and overdue refreshes match the rows", async () => {
    const thresholdHours = 72;
    const overview = await getFleetOverview(database.db, NOW, { refreshThresholdHours: thresholdHours });
    const running = (await database.db.select().from(instances)).filter((row) => row.status === "running" && !row.destroyedAt);
    const expiries = running.flatMap((row) => (row.deployedKeyExpiresAt ? [row.deployedKeyExpiresAt.getTime()] : []));
    expect(expiries.length).toBeGreaterThan(0);
    expect(overview.runningKeyExpiresEarliestAt).toBe(new Date(Math.min(...expiries)).toISOString());
    // Overdue: due (threshold before expiry, or revoked) more than the one-hour backoff cap ago.
    const HOUR = 3600 * 1000;
    const overdue = running.filter(
      (row) =>
        (row.deployedKeyExpiresAt !== null && row.deployedKeyExpiresAt.getTime() <= NOW.getTime() + thresholdHours * HOUR - HOUR) ||
        (row.keyRevokedAt !== null && row.keyRevokedAt.getTime() <= NOW.getTime() - HOUR),
    );
    expect(overdue.length).toBeGreaterThan(0);
    expect(overview.refreshOverdue).toBe(overdue.length);
    // A longer threshold makes more keys due, so at least as many overdue.
    const wider = await getFleetOverview(database.db, NOW, { refreshThresholdHours: 240 });
    expect(wider.refreshOverdue).toBeGreaterThan(overview.refreshOverdue);
  });

  it("bulk targets are the first matches in the view's order, capped, never destroyed or destroying", async () => {
    const filter = { keyHealth: ["critical", "expiring"] as KeyHealth[], sort: "lastActivityAt" as const, order: "desc" as const };
    const all = (await walk({ ...filter, limit: 100 })).filter((instance) => instance.status !== "destroying");
    const capped = await listBulkTargets(database.db, filter, NOW, 25);
    expect(capped.truncated).toBe(true);
    expect(capped.targets.map((target) => target.id)).toEqual(all.slice(0, 25).map((instance) => instance.id));
    expect(capped.targets[0]).toEqual({ id: all[0]!.id, ownerId: all[0]!.owner.id, name: all[0]!.name, ownerEmail: all[0]!.owner.email });
    const everything = await listBulkTargets(database.db, filter, NOW, all.length);
    expect(everything).toEqual({ targets: expect.any(Array), truncated: false });
    expect(everything.targets).toHaveLength(all.length);
    const destroyed = await listBulkTargets(database.db, { status: ["destroyed", "destroying"], sort: "status", order: "asc" }, NOW, 1000);
    expect(destroyed.targets).toEqual([]);
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

describe.each(testDrivers())("admin fleet search, timeline and overview cache (%s)", (driver) => {
  let database: TestDatabase;
  let admin: UserRow;
  let owner: UserRow;
  let instanceId: string;

  beforeAll(async () => {
    database = await createTestDatabase(driver);
    const created = await database.db
      .insert(users)
      .values([
        { email: "ab%c@search.test" },
        { email: "abxc@search.test" },
        { email: "a_b@search.test" },
        { email: "zed@search.test", role: "admin", name: "Zed Admin" },
      ])
      .returning();
    [owner, admin] = [created[0]!, created[3]!];
    const rows = await database.db
      .insert(instances)
      .values(created.slice(0, 3).map((user, index) => ({ ownerId: user.id, name: `s${index}`, provider: "local" as const, region: "local", imageTag: "latest" })))
      .returning();
    instanceId = rows[0]!.id;
  }, 120_000);

  afterAll(async () => {
    await database?.close();
  });

  const search = async (ownerSearch: string) =>
    (await listFleetInstances(database.db, query({ ownerSearch, sort: "owner" }), NOW)).instances.map((instance) => instance.owner.email);

  it("ownerSearch matches a prefix of the owner's email, ignoring case, with LIKE wildcards taken literally", async () => {
    expect(await search("AB")).toEqual(["ab%c@search.test", "abxc@search.test"]);
    expect(await search("ab%")).toEqual(["ab%c@search.test"]);
    expect(await search("a_")).toEqual(["a_b@search.test"]);
    expect(await search("a")).toHaveLength(3);
    expect(await search("b")).toEqual([]);
    expect(await search("abxc@search.test")).toEqual(["abxc@search.test"]);
    expect(fleetQuerySchema.safeParse({ ownerSearch: "   " }).success).toBe(false);
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

  it("the overview cache serves fresh values, serves stale ones while one refresh runs, and recomputes after invalidation", async () => {
    let clock = Date.parse("2031-01-01T00:00:00Z");
    const options = { clock: () => clock };
    const [a, b] = await Promise.all([getCachedFleetOverview(database.db, options), getCachedFleetOverview(database.db, options)]);
    expect(a).toBe(b);
    expect(a.computedAt).toBe("2031-01-01T00:00:00.000Z");
    expect(a.total).toBe(3);
    clock += FRESH_MS - 1;
    expect(await getCachedFleetOverview(database.db, options)).toBe(a);
    clock += 2;
    // Stale: served at once, refreshed behind it.
    expect(await getCachedFleetOverview(database.db, options)).toBe(a);
    await expect.poll(async () => (await getCachedFleetOverview(database.db, options)).computedAt).toBe(new Date(clock).toISOString());
    const refreshed = await getCachedFleetOverview(database.db, options);
    await database.db.insert(instances).values({ ownerId: owner.id, name: "s3", provider: "local", region: "local", imageTag: "latest" });
    expect((await getCachedFleetOverview(database.db, options)).total).toBe(3);
    invalidateFleetOverview(database.db);
    const after = await getCachedFleetOverview(database.db, options);
    expect(after).not.toBe(refreshed);
    expect(after.total).toBe(4);
    // Too old to serve: the caller waits for a fresh one.
    clock += MAX_STALE_MS;
    expect((await getCachedFleetOverview(database.db, options)).computedAt).toBe(new Date(clock).toISOString());
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

  /** The plan of each segment query of the page (see walkSegments in ./fleet). */
  async function plans(input: Record<string, unknown>, options: { allowSort?: boolean; force?: boolean } = {}): Promise<string[]> {
    const parsed = query(input);
    const texts: string[] = [];
    for (const segment of fleetPageQueries(database.db, parsed, new Date())) {
      const { sql: text, params } = segment(parsed.limit + 1).toSQL();
      await client.query("begin");
      try {
        // Make anything but an index scan look hopeless: if the index cannot serve the order, a Sort shows up anyway.
        if (options.force !== false) await client.query("set local enable_seqscan = off");
        if (!options.allowSort) await client.query("set local enable_sort = off");
        const result = await client.query<{ "QUERY PLAN": string }>(`explain ${text}`, params as unknown[]);
        texts.push(result.rows.map((row) => row["QUERY PLAN"]).join("\n"));
      } finally {
        await client.query("rollback");
      }
    }
    return texts;
  }

  it("every sort, both orders, first and later pages, walks its (column, id) index without sorting, the cursor as an index condition", async () => {
    const indexes = {
      deployedKeyExpiresAt: "instances_deployed_expiry_idx",
      keyExpiresAt: "instances_key_expiry_idx",
      lastActivityAt: "instances_last_activity_idx",
      status: "instances_status_idx",
      // The owner's email is in users: its unique index orders the owners, each owner's few
      // instances are then put in id order (an incremental sort of one owner at a time).
      owner: "users_email_unique",
    };
    for (const sort of fleetSortValues) {
      for (const order of ["asc", "desc"] as const) {
        const first = await listFleetPage(database.db, query({ sort, order, limit: 10 }), new Date());
        const second = await listFleetPage(database.db, query({ sort, order, limit: 10, cursor: first.nextCursor! }), new Date());
        for (const cursor of [undefined, first.nextCursor!, second.prevCursor!]) {
          for (const text of await plans({ sort, order, limit: 10, cursor })) {
            const label = `${sort} ${order} ${cursor ? "cursor" : "first"}\n${text}`;
            expect(text, label).toContain(indexes[sort]);
            expect(text, label).not.toMatch(sort === "owner" ? /(?<!Incremental )\bSort\b(?! Key)/ : /\bSort\b/);
            if (cursor) expect(text, label).toMatch(/Index Cond: .*(\(ROW\(|IS NULL|email)/);
          }
        }
      }
    }
  });

  it("the owner email search is a prefix range on a lower(email) text_pattern_ops index, when one exists", async () => {
    // The index proposed for db/schema/users.ts; created here so the query's shape is checked either way.
    await database.db.execute(sql`create index if not exists users_email_search_idx on users (lower(email) text_pattern_ops)`);
    await database.db.execute(sql`insert into users (email, api_token_pepper) select 'u' || n || '@other.test', md5(n::text) from generate_series(1, 3000) n`);
    await database.db.execute(sql`analyze users`);
    // The first segment (instances with a deployed expiry) holds all of them here.
    const [text] = await plans({ ownerSearch: "plan@" }, { force: false, allowSort: true });
    expect(text).toContain("users_email_search_idx");
    expect(text).toMatch(/Index Cond: .*lower\(email\) ~>=~ 'plan@'/);
  });

  it("a health filter on the expiry sort walks only the matching expiry range", async () => {
    const [nonNull, nulls] = await plans({ keyHealth: ["critical"], sort: "deployedKeyExpiresAt" }, { force: false });
    expect(nonNull).toMatch(/Index Cond: .*deployed_key_expires_at > .*deployed_key_expires_at <= /);
    expect(nulls).toMatch(/Index Cond: \(deployed_key_expires_at IS NULL\)|key_expiry_idx/);
    // Unknown keys have no deployed expiry: only the NULL stretch of the index is walked.
    expect(await plans({ keyHealth: ["unknown"], sort: "deployedKeyExpiresAt" })).toHaveLength(1);
    const rows = await queryRows<{ n: string }>(database.db, sql`select count(*)::text as n from instances`);
    expect(Number(rows[0]!.n)).toBe(5000);
  });
});

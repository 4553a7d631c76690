import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eq, inArray, sql } from "drizzle-orm";
import { queryRows } from "@/db";
import { instances, users, type UserRow } from "@/db/schema";
import { createTestDatabase, testDrivers, type TestDatabase } from "@/test/db";
import { withUsersLocked } from "@/test/instances/harness";
import { at, DAY, NOW, SIGNING_KEYS, seedHealthMatrix, seedSearchFleet, type LiveRow } from "@/test/admin/fleet-fixture";
import { computeKeyHealth } from "@/lib/instances/key-health";
import { keyHealthValues } from "@/lib/instances/schemas";
import { pepperFingerprint } from "@/lib/keys/fingerprints";
import type { SigningKeyIds } from "@/lib/tokens/key-ring";
import { compactHealthCounts, prunePepperRechecks } from "./health-counts";
import { keyHealthSql } from "./key-health-sql";
import { countKeyHealth, getFleetOverview, scanFleetOverview } from "./overview";
import { FRESH_MS, getCachedFleetOverview, invalidateFleetOverview, MAX_STALE_MS } from "./overview-cache";
import { instanceStatusValues } from "./schemas";

describe.each(testDrivers())("key health in SQL: the twin of computeKeyHealth, its counts and the fleet overview (%s)", (driver) => {
  let database: TestDatabase;
  let live: LiveRow[];

  beforeAll(async () => {
    database = await createTestDatabase(driver);
    ({ live } = await seedHealthMatrix(database.db));
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

  /** The key-health histograms of computeKeyHealth over the live rows as they are now, one per moment. */
  async function pureBuckets(moments: Date[], signingKeys: SigningKeyIds | null) {
    const owners = new Map((await database.db.select().from(users)).map((owner) => [owner.id, pepperFingerprint(owner.apiTokenPepper)]));
    const rows = (await database.db.select().from(instances)).filter((row) => !row.destroyedAt);
    return moments.map((now) => {
      const buckets = Object.fromEntries(keyHealthValues.map((value) => [value, 0]));
      for (const row of rows) buckets[computeKeyHealth(row, owners.get(row.ownerId)!, now, signingKeys)]! += 1;
      return buckets;
    });
  }

  // Moments on and off the 15-minute buckets' edges, before, inside and past the 30-day horizon.
  const OFFSETS = [0, -1, 7 * 60_000 + 13, 2 * DAY + 17, 3 * DAY - 1, 6.5 * DAY, 29 * DAY + 5, 31 * DAY];

  async function expectCountsEqualScan(label: string, offsets = OFFSETS) {
    const moments = offsets.map((offset) => new Date(NOW.getTime() + offset));
    const pure = await pureBuckets(moments, SIGNING_KEYS);
    for (const [index, now] of moments.entries()) {
      for (const [signingKeys, refreshThresholdHours] of [[SIGNING_KEYS, 72], [null, 240]] as const) {
        const options = { signingKeys, refreshThresholdHours };
        const [fromCounts, scanned] = await Promise.all([getFleetOverview(database.db, now, options), scanFleetOverview(database.db, now, options)]);
        expect(fromCounts, `${label} at ${now.toISOString()}`).toEqual(scanned);
        if (signingKeys) expect(fromCounts.buckets, `${label} at ${now.toISOString()}`).toEqual(pure[index]);
      }
    }
  }

  it("the overview from the maintained counts equals the full scan and computeKeyHealth as time passes, and after writes, pepper changes and deletes", async () => {
    // Keys expiring every 25 minutes from 3 days before NOW to 33 days after, so every bucket near a boundary holds some.
    const [owner] = await database.db.select().from(users).orderBy(users.email).limit(1);
    await database.db.execute(sql`
      insert into instances (owner_id, name, provider, region, image_tag, status, key_id, deployed_key_id, key_expires_at, deployed_key_expires_at, key_signing_kid, deployed_key_signing_kid)
      select ${owner!.id}, 'spread-' || n, 'local', 'local', 'latest', (array['running', 'stopped'])[1 + n % 2]::instance_status, 'key_s', 'key_s',
             ${NOW.toISOString()}::timestamptz + (n * 25 - 4320) * interval '1 minute', case when n % 5 > 0 then ${NOW.toISOString()}::timestamptz + (n * 25 - 4320) * interval '1 minute' end,
             (array[${SIGNING_KEYS.current}, ${SIGNING_KEYS.previous[0]!}])[1 + n % 3 / 2], ${SIGNING_KEYS.current}
      from generate_series(0, 2073) n`);
    await expectCountsEqualScan("as seeded");
    const [first, second] = await database.db.select().from(users).orderBy(users.email);
    const some = (await database.db.select({ id: instances.id }).from(instances)).map((row) => row.id);
    // Expiries move, keys are revoked, statuses change, one instance is destroyed, one deleted, one added.
    await database.db.execute(sql`update instances set deployed_key_expires_at = deployed_key_expires_at + interval '2 days 7 minutes' where name like 'i0-%' and name like '%3'`);
    await database.db.update(instances).set({ keyRevokedAt: NOW, status: "running" }).where(inArray(instances.id, some.slice(0, 40)));
    await database.db.update(instances).set({ destroyedAt: NOW, status: "destroyed" }).where(eq(instances.id, some[50]!));
    await database.db.delete(instances).where(eq(instances.id, some[60]!));
    await database.db.insert(instances).values({ ownerId: second!.id, name: "new", provider: "local", region: "local", imageTag: "latest", keyId: "key_n", deployedKeyId: "key_n", keyExpiresAt: at(5 * DAY), deployedKeyExpiresAt: at(5 * DAY), keyPepperFingerprint: pepperFingerprint(second!.apiTokenPepper) });
    // A pepper change: the owner's keys minted under the old one are now revoked, whatever the counts saw.
    await database.db.update(users).set({ apiTokenPepper: "a-new-pepper" }).where(eq(users.id, first!.id));
    await expectCountsEqualScan("after writes");
    if (driver === "postgres") {
      // While users is locked (the fallback path writes instances without it), a stale fingerprint written then is still found.
      const [fresh] = await database.db.insert(users).values({ email: "blind@fleet.test" }).returning();
      const [written] = await database.db
        .insert(instances)
        .values({ ownerId: fresh!.id, name: "blind", provider: "local", region: "local", imageTag: "latest", keyId: "key_b", deployedKeyId: "key_b", keyExpiresAt: at(9 * DAY), deployedKeyExpiresAt: at(9 * DAY), keyPepperFingerprint: pepperFingerprint(fresh!.apiTokenPepper) })
        .returning();
      await withUsersLocked(database.url!, async () => {
        await database.db.update(instances).set({ keyPepperFingerprint: "pf_written_blind" }).where(eq(instances.id, written!.id));
      });
      await expectCountsEqualScan("after a write while users was locked", [0, 3 * DAY - 1]);
    }
    await compactHealthCounts(database.db, { force: true });
    await expectCountsEqualScan("after compaction", [0, 3 * DAY - 1]);
  }, 120_000);


  it("prunes the pepper re-checks with nothing left to re-check, never one a write still in flight needs", async () => {
    const db = database.db;
    const listed = async (owner: UserRow) => (await queryRows<{ n: string }>(db, sql`select count(*)::text as n from fleet_pepper_recheck where owner_id = ${owner.id}`))[0]!.n !== "0";
    const [stale, rotated, racing] = await db.insert(users).values([{ email: "stale@recheck.test" }, { email: "rotated@recheck.test" }, { email: "racing@recheck.test" }]).returning();
    const instance = (owner: UserRow, name: string, fingerprint: string) => ({
      ownerId: owner.id, name, provider: "local" as const, region: "local", imageTag: "latest", keyId: `key_${name}`, deployedKeyId: `key_${name}`,
      keyExpiresAt: at(9 * DAY), deployedKeyExpiresAt: at(9 * DAY), keyPepperFingerprint: fingerprint,
    });
    // A live key under a fingerprint that is not its owner's; an owner whose pepper changed with every key revoked.
    await db.insert(instances).values(instance(stale!, "stale", "pf_not_current"));
    const [revoked] = await db.insert(instances).values({ ...instance(rotated!, "rotated", pepperFingerprint(rotated!.apiTokenPepper)), keyRevokedAt: NOW }).returning();
    await db.update(users).set({ apiTokenPepper: "rotated-pepper" }).where(eq(users.id, rotated!.id));
    expect([await listed(stale!), await listed(rotated!)]).toEqual([true, true]);
    expect(await prunePepperRechecks(db)).toBeGreaterThan(0);
    expect([await listed(stale!), await listed(rotated!)]).toEqual([true, false]);
    await expectCountsEqualScan("after a prune", [0, 3 * DAY - 1]);

    // A key minted under the pepper a rotation just replaced keeps the revoked key's fingerprint: its new id puts the owner back.
    await db.update(instances).set({ keyId: "key_minted_late", deployedKeyId: "key_minted_late", keyRevokedAt: null }).where(eq(instances.id, revoked!.id));
    await prunePepperRechecks(db);
    expect(await listed(rotated!)).toBe(true);
    await expectCountsEqualScan("after a key minted under the replaced pepper", [0, 3 * DAY - 1]);

    if (driver === "postgres") {
      // An owner listed once (a stale key, since fixed), then a stale key written again while a prune
      // runs on another connection: the prune cannot see that write, nor the row it adds, which survives.
      const [racingRow] = await db.insert(instances).values(instance(racing!, "racing", "pf_stale_once")).returning();
      await db.update(instances).set({ keyPepperFingerprint: pepperFingerprint(racing!.apiTokenPepper) }).where(eq(instances.id, racingRow!.id));
      expect(await listed(racing!)).toBe(true);
      await db.transaction(async (tx) => {
        await tx.update(instances).set({ keyId: "key_racing_2", keyPepperFingerprint: "pf_stale_again" }).where(eq(instances.id, racingRow!.id));
        await prunePepperRechecks(db);
      });
      expect(await listed(racing!)).toBe(true);
      await expectCountsEqualScan("after a prune raced a stale write", [0, 3 * DAY - 1]);
    }
  }, 60_000);

});

describe.each(testDrivers())("fleet overview cache (%s)", (driver) => {
  let database: TestDatabase;
  let owner: UserRow;

  beforeAll(async () => {
    database = await createTestDatabase(driver);
    owner = (await seedSearchFleet(database.db)).users[0]!;
  }, 120_000);

  afterAll(async () => {
    await database?.close();
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

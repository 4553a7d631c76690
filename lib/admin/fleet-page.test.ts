import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queryRows } from "@/db";
import { users, type UserRow } from "@/db/schema";
import { createTestDatabase, realPostgresDrivers, testDrivers, type TestDatabase } from "@/test/db";
import { NOW, query, seedHealthMatrix, seedSearchFleet, walkFleet, type LiveRow } from "@/test/admin/fleet-fixture";
import { fleetSortKey } from "@/test/admin/fleet-sort-key";
import { isAppError } from "@/lib/errors";
import { keyHealthValues, type KeyHealth } from "@/lib/instances/schemas";
import { listBulkTargets } from "./bulk-targets";
import { fleetPageQueries, listFleetInstances, listFleetPage } from "./fleet-page";
import { fleetQuerySchema, fleetSortValues } from "./schemas";

interface FleetPageWithIds {
  ids: string[];
  prevCursor: string | null;
  nextCursor: string | null;
}

describe.each(testDrivers())("admin fleet pages (%s)", (driver) => {
  let database: TestDatabase;
  let owners: UserRow[];
  let live: LiveRow[];
  const walk = (input: Record<string, unknown>) => walkFleet(database.db, input);

  beforeAll(async () => {
    database = await createTestDatabase(driver);
    ({ owners, live } = await seedHealthMatrix(database.db));
  }, 120_000);

  afterAll(async () => {
    await database?.close();
  });

  it("keyset pages cover every filter result exactly once, in (sort, id) order, in every sort and order", async () => {
    for (const sort of fleetSortValues) {
      for (const order of ["asc", "desc"] as const) {
        const seen = await walk({ sort, order, limit: 97, keyHealth: ["ok", "revoked", "unknown", "expired"] });
        const sign = order === "asc" ? 1 : -1;
        expect(new Set(seen.map((instance) => instance.id)).size).toBe(seen.length);
        expect(seen.length).toBe(live.filter((row) => ["ok", "revoked", "unknown", "expired"].includes(row.health)).length);
        for (let index = 1; index < seen.length; index++) {
          const [a, b] = [seen[index - 1]!, seen[index]!];
          const [ka, kb] = [fleetSortKey(a, sort), fleetSortKey(b, sort)];
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
});

describe.each(testDrivers())("admin fleet owner search (%s)", (driver) => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase(driver);
    await seedSearchFleet(database.db);
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

  /** The plan of each segment query of the page (see walkSegments in ./fleet-sort). */
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

/**
 * Admin fleet benchmark: the admin API against a 100,000-instance fleet on real PostgreSQL, each
 * scenario's latency p50/p95 over repeated requests printed next to the time of the same SQL run
 * directly through node-postgres. Targets: API p95 under 50 ms and within 2× of the raw SQL, for a
 * filtered, sorted page of GET /api/admin/instances and for GET /api/admin/key-health.
 *
 *   TEST_DATABASE_URL=postgres://… npx tsx --conditions=react-server bench/admin/run.ts [--count 100000] [--requests 200] [--warmup 20]
 *        [--build] [--keep] [--no-compression]
 *
 * It creates a throwaway database next to TEST_DATABASE_URL's, applies the migrations, seeds the
 * fleet with seedFleet (one INSERT … SELECT), adds an admin who can sign in, then closes that
 * connection and starts the production build (`next start`, NEXT_DIST_DIR honoured; --build makes
 * one) against it, signs in through next-auth's credentials flow and measures, one request at a
 * time. The database is dropped at the end unless --keep. Requests are sequential, so the figures
 * are latencies, not throughput. The scheduler is off, so nothing else touches the database.
 *
 * --no-compression asks for uncompressed responses (next start
 * gzips JSON, as a browser would get it; about 2 ms of the 50-instance page here).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { parseArgs } from "node:util";
import { sql } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import pg from "pg";
import { openDatabase, queryRows } from "@/db/client";
import { applyMigrations } from "@/db/migrate";
import { users } from "@/db/schema";
import { fleetOverviewQuery } from "@/lib/admin/overview";
import { fleetPageQueries, listFleetPage } from "@/lib/admin/fleet-page";
import { fleetQuerySchema, type FleetQuery } from "@/lib/admin/schemas";
import { hashPassword } from "@/lib/auth/password";
import { seedFleet } from "@/lib/demo/seed-fleet";

const TARGET_P95_MS = 50;
const TARGET_RATIO = 2;

interface Options {
  count: number;
  requests: number;
  warmup: number;
  build: boolean;
  keep: boolean;
  compression: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      count: { type: "string", default: "100000" },
      requests: { type: "string", default: "200" },
      warmup: { type: "string", default: "20" },
      build: { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
      "no-compression": { type: "boolean", default: false },
    },
  });
  const number = (name: string, value: string, max: number) => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < 1 || parsed > max) throw new Error(`--${name} must be a whole number from 1 to ${max}`);
    return parsed;
  };
  return {
    count: number("count", values.count, 2_000_000),
    requests: number("requests", values.requests, 100_000),
    warmup: number("warmup", values.warmup, 10_000),
    build: values.build,
    keep: values.keep,
    compression: !values["no-compression"],
  };
}

// ---------------------------------------------------------------------------------------------
// Measuring

interface Stats {
  p50: number;
  p95: number;
  p99: number;
  mean: number;
}

function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), mean: sorted.reduce((sum, value) => sum + value, 0) / sorted.length };
}

async function repeat(times: number, work: () => Promise<void>): Promise<number[]> {
  const samples: number[] = [];
  for (let index = 0; index < times; index++) {
    const started = performance.now();
    await work();
    samples.push(performance.now() - started);
  }
  return samples;
}

const ms = (value: number) => `${value.toFixed(1)} ms`;

// ---------------------------------------------------------------------------------------------
// The database

async function createDatabase(serverUrl: string, options: Options): Promise<{ url: string; name: string; adminPassword: string; sampleEmail: string }> {
  const name = `fleetdeck_bench_admin_${randomBytes(5).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;

  // Seeding and vacuuming 100,000 rows may run longer than the app's per-statement limits.
  const handle = await openDatabase({ url: url.toString(), driver: "postgres", timeouts: { statementMs: 0, queryMs: 0 } });
  try {
    await applyMigrations(handle);
    const started = performance.now();
    const seeded = await seedFleet(handle.db, { count: options.count, seed: 0.42 });
    console.log(`Seeded ${seeded.instances.toLocaleString("en-US")} instances for ${seeded.users.toLocaleString("en-US")} owners in ${((performance.now() - started) / 1000).toFixed(1)} s.`);
    const adminPassword = `bench-${randomBytes(12).toString("hex")}`;
    await handle.db.insert(users).values({ email: "bench-admin@fleetdeck.test", name: "Bench Admin", role: "admin", passwordHash: await hashPassword(adminPassword) });
    // Settle the heap (hint bits, visibility map) and the statistics, as a live database would be.
    await handle.db.execute(sql`vacuum analyze`);
    // An owner to search for by email prefix.
    const rows = await queryRows<{ email: string }>(handle.db, sql`select email from users where email like 'fleet-%' order by email limit 1 offset 1234`);
    return { url: url.toString(), name, adminPassword, sampleEmail: rows[0]!.email };
  } finally {
    await handle.close();
  }
}

async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${name} with (force)`);
  } finally {
    await admin.end();
  }
}

// ---------------------------------------------------------------------------------------------
// The server

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function startServer(databaseUrl: string, port: number): ChildProcess {
  const base = `http://127.0.0.1:${port}`;
  const secret = () => randomBytes(32).toString("hex");
  // Next loads .env files for every variable not already set, so each one is set explicitly.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NEXT_DIST_DIR: process.env.NEXT_DIST_DIR,
    NODE_ENV: "production",
    NEXT_TELEMETRY_DISABLED: "1",
    NEXTAUTH_URL: base,
    GATEWAY_CALLBACK_URL: base,
    DATABASE_URL: databaseUrl,
    DATABASE_DRIVER: "postgres",
    PGLITE_DIR: "",
    NEXTAUTH_SECRET: secret(),
    INTERNAL_API_SECRET: secret(),
    CRON_SECRET: secret(),
    KEY_ENCRYPTION_KEY: secret(),
    GATEWAY_TOKEN_SECRET: secret(),
    KILO_TOKEN_ENV: "",
    FLY_API_TOKEN: "",
    FLY_APP_NAME: "",
    GITHUB_ID: "",
    GITHUB_SECRET: "",
    MACHINE_PROVIDER: "local",
    SCHEDULER_INTERVAL_SECONDS: "0",
    FLEETDECK_LOG_LEVEL: "warn",
  };
  // Its own process group, so stopping it cannot leave a next-server child behind.
  return spawn(path.join(process.cwd(), "node_modules/.bin/next"), ["start", "-H", "127.0.0.1", "-p", String(port)], {
    env,
    detached: true,
    stdio: ["ignore", "ignore", "inherit"],
  });
}

async function waitForServer(base: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`next start exited with code ${child.exitCode}`);
    try {
      if ((await fetch(`${base}/api/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error("next start was not ready within 60 s");
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  process.kill(-child.pid, "SIGTERM");
  const timer = setTimeout(() => child.pid && process.kill(-child.pid, "SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

/** next-auth's credentials flow without a browser; returns the Cookie header. */
async function signIn(base: string, email: string, password: string): Promise<string> {
  const jar = new Map<string, string>();
  const keep = (response: Response) => {
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(";");
      const at = pair!.indexOf("=");
      jar.set(pair!.slice(0, at), pair!.slice(at + 1));
    }
  };
  const csrf = await fetch(`${base}/api/auth/csrf`);
  keep(csrf);
  const { csrfToken } = (await csrf.json()) as { csrfToken: string };
  const cookie = () => [...jar].map(([name, value]) => `${name}=${value}`).join("; ");
  const response = await fetch(`${base}/api/auth/callback/credentials`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: cookie() },
    body: new URLSearchParams({ csrfToken, email, password, json: "true" }),
    redirect: "manual",
  });
  keep(response);
  if (![...jar.keys()].some((name) => name.endsWith("next-auth.session-token"))) throw new Error(`sign-in failed (${response.status})`);
  return cookie();
}

// ---------------------------------------------------------------------------------------------
// Scenarios

interface Scenario {
  name: string;
  /** One of the two targets (the others are printed for context). */
  target: boolean;
  path: string;
  /** Runs the same SQL as the route, statement by statement, through node-postgres. */
  raw: (client: pg.Client, now: Date) => Promise<void>;
  /** No database work to compare with (the baseline). */
  noSql?: boolean;
  /** Checks a response body, so a broken route cannot look fast. */
  check: (body: unknown) => void;
  note?: string;
}

const dialect = new PgDialect();

function listScenario(
  name: string,
  input: Record<string, unknown>,
  db: Awaited<ReturnType<typeof openDatabase>>["db"],
  options: { target?: boolean; note?: string } = {},
): Scenario {
  const query: FleetQuery = fleetQuerySchema.parse(input);
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(input)) params.set(key, Array.isArray(value) ? value.join(",") : String(value));
  return {
    name,
    target: options.target ?? false,
    note: options.note,
    path: `/api/admin/instances?${params}`,
    // As listFleetPage: the walk's segments in order, each asked for the rows still missing, until
    // one row more than the page is found.
    raw: async (client, now) => {
      let rows = 0;
      for (const segment of fleetPageQueries(db, query, now)) {
        const { sql: text, params: values } = segment(query.limit + 1 - rows).toSQL();
        rows += (await client.query(text, values as unknown[])).rowCount ?? 0;
        if (rows > query.limit) break;
      }
    },
    check: (body) => {
      const page = body as { instances?: unknown[] };
      if (!Array.isArray(page.instances)) throw new Error(`${name}: not a fleet page`);
    },
  };
}

async function main(): Promise<void> {
  const options = parseOptions();
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (!serverUrl) throw new Error("Set TEST_DATABASE_URL to a PostgreSQL server (the benchmark creates and drops its own database there).");
  const root = process.cwd();
  const distDir = process.env.NEXT_DIST_DIR || ".next";
  if (options.build) {
    const build = spawnSync(path.join(root, "node_modules/.bin/next"), ["build"], { stdio: "inherit", env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" } });
    if (build.status !== 0) throw new Error("next build failed");
  }
  if (!existsSync(path.join(root, distDir, "BUILD_ID"))) throw new Error(`No production build in ${distDir}: run \`next build\` (or pass --build).`);

  const database = await createDatabase(serverUrl, options);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = startServer(database.url, port);
  const client = new pg.Client({ connectionString: database.url });
  const queryHandle = await openDatabase({ url: database.url, driver: "postgres" });
  let failed = false;
  try {
    await waitForServer(base, child);
    await client.connect();
    const version = (await client.query<{ server_version: string }>("show server_version")).rows[0]!.server_version;
    const cookie = await signIn(base, "bench-admin@fleetdeck.test", database.adminPassword);
    const get = async (pathname: string): Promise<unknown> => {
      const response = await fetch(`${base}${pathname}`, { headers: { cookie, accept: "application/json", ...(options.compression ? {} : { "accept-encoding": "identity" }) } });
      const text = await response.text();
      if (response.status !== 200) throw new Error(`GET ${pathname} answered ${response.status}: ${text.slice(0, 300)}`);
      return JSON.parse(text) as unknown;
    };

    // The first key-health request computes the overview (nothing is cached yet): its cost, once.
    const firstStarted = performance.now();
    await get("/api/admin/key-health");
    const firstKeyHealth = performance.now() - firstStarted;

    // A cursor 20 pages deep into the main list scenario, walked through the API.
    const main = { keyHealth: ["critical", "expiring"], status: ["running"], sort: "deployedKeyExpiresAt", order: "asc", limit: 50 };
    let deepCursor: string | undefined;
    {
      let page = await listFleetPage(queryHandle.db, fleetQuerySchema.parse(main), new Date());
      for (let index = 1; index < 20 && page.nextCursor; index++) page = await listFleetPage(queryHandle.db, fleetQuerySchema.parse({ ...main, cursor: page.nextCursor }), new Date());
      deepCursor = page.nextCursor ?? undefined;
    }
    const ownerPrefix = database.sampleEmail.slice(0, database.sampleEmail.indexOf("@") - 1);

    const scenarios: Scenario[] = [
      {
        name: "baseline: GET /api/health (no session, no database)",
        target: false,
        path: "/api/health",
        raw: async () => {},
        noSql: true,
        check: () => {},
        note: "what any request to this server costs: routing, the handler, HTTP on loopback",
      },
      listScenario("list: critical+expiring, running, by key expiry, 50/page", main, queryHandle.db, { target: true }),
      {
        name: "key-health summary (GET /api/admin/key-health)",
        target: true,
        path: "/api/admin/key-health",
        raw: async (client, now) => {
          const { sql: text, params } = dialect.sqlToQuery(fleetOverviewQuery(now));
          await client.query(text, params as unknown[]);
        },
        check: (body) => {
          if (typeof (body as { total?: unknown }).total !== "number") throw new Error("key-health: no total");
        },
        note: `served from the per-process overview cache (fresh 10 s); the first, uncached request took ${ms(firstKeyHealth)}`,
      },
      listScenario("list: same, page 21 (keyset cursor)", { ...main, cursor: deepCursor }, queryHandle.db),
      listScenario("list: same, 1 per page", { ...main, limit: 1 }, queryHandle.db, { note: "the per-request part of the cost, without 49 more rows to shape and send" }),
      listScenario("list: everything, by owner email, 50/page", { sort: "owner", limit: 50 }, queryHandle.db),
      listScenario("list: owner email search (prefix)", { ownerSearch: ownerPrefix, limit: 50 }, queryHandle.db, {
        note: "served by users_email_search_idx (lower(email) text_pattern_ops)",
      }),
      listScenario("list: revoked, by last activity (newest)", { keyHealth: ["revoked"], sort: "lastActivityAt", order: "desc", limit: 50 }, queryHandle.db),
      listScenario("list: unknown expiry, by status", { keyHealth: ["unknown"], sort: "status", limit: 50 }, queryHandle.db),
    ];

    console.log(
      `\nAdmin API, ${options.count.toLocaleString("en-US")} instances, PostgreSQL ${version}, next start (${distDir}); ` +
        `${options.requests} sequential requests per scenario after ${options.warmup} warm-up, ${options.compression ? "gzip" : "uncompressed"} responses; ` +
        `raw SQL: the same statements via node-postgres.\n`,
    );
    const header = ["scenario".padEnd(58), "API p50", "API p95", "SQL p50", "SQL p95", "p95 API/SQL", "verdict"];
    console.log(header.join("  "));
    for (const scenario of scenarios) {
      // Warm both paths, then measure the API and the SQL alternately in blocks, so drift hits both.
      for (let index = 0; index < options.warmup; index++) scenario.check(await get(scenario.path));
      const api: number[] = [];
      const raw: number[] = [];
      const block = Math.max(1, Math.floor(options.requests / 10));
      for (let done = 0; done < options.requests; done += block) {
        const n = Math.min(block, options.requests - done);
        api.push(...(await repeat(n, async () => void (await get(scenario.path)))));
        raw.push(...(await repeat(n, () => scenario.raw(client, new Date()))));
      }
      const a = stats(api);
      const s = stats(raw);
      const ratio = scenario.noSql ? NaN : a.p95 / s.p95;
      const met = a.p95 < TARGET_P95_MS && ratio <= TARGET_RATIO;
      if (scenario.target && !met) failed = true;
      const verdict = scenario.target ? (met ? "target met" : "TARGET MISSED") : a.p95 < TARGET_P95_MS ? "(context) under 50 ms" : "(context) over 50 ms";
      console.log(
        [
          scenario.name.padEnd(58),
          ms(a.p50).padStart(7),
          ms(a.p95).padStart(7),
          (scenario.noSql ? "—" : ms(s.p50)).padStart(7),
          (scenario.noSql ? "—" : ms(s.p95)).padStart(7),
          (scenario.noSql ? "—" : `${ratio.toFixed(2)}×`).padStart(11),
          verdict,
        ].join("  "),
      );
      if (scenario.note) console.log(`${"".padEnd(4)}└ ${scenario.note}`);
    }
    console.log(`\nTargets: p95 under ${TARGET_P95_MS} ms and within ${TARGET_RATIO}× of the raw SQL's p95, for the two scenarios marked as targets.`);
  } finally {
    await client.end().catch(() => {});
    await queryHandle.close();
    await stopServer(child);
    if (options.keep) console.log(`Kept the database: ${database.url}`);
    else await dropDatabase(serverUrl, database.name);
  }
  if (failed) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});

/**
 * Admin fleet benchmark: the admin views against a large fleet (default 100,000 instances; the
 * targets are set for 1,000,000) on real PostgreSQL. Prints the seed time, each list scenario's
 * latency p50/p95 over HTTP against `next start` (what the admin waits for) next to the same SQL
 * run directly, the key-health summary's uncached computation (getFleetOverview, what every cache
 * miss costs) next to the full scan it replaced, and the targets with measured/target ratios:
 * seed under 60 s, list p95 under 50 ms, uncached summary p95 under 500 ms.
 *
 *   TEST_DATABASE_URL=postgres://… npm run bench:admin -- [--instances 1000000] [--requests 200] [--warmup 20]
 *        [--summaries 30] [--build] [--keep] [--no-compression]
 *
 * It creates a throwaway database next to TEST_DATABASE_URL's, applies the migrations, seeds the
 * fleet with seedFleet (keys signed under the server's secret), adds an admin who can sign in,
 * starts the production build (NEXT_DIST_DIR honoured; --build makes one) against it, signs in
 * through next-auth's credentials flow and measures, one request at a time (latencies, not
 * throughput). The scheduler is off, so nothing else touches the database. The database is dropped
 * at the end unless --keep. --no-compression asks for uncompressed responses (next start gzips JSON).
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { openDatabase } from "@/db/client";
import { fleetPageQueries, listFleetPage } from "@/lib/admin/fleet-page";
import { getFleetOverview, scanFleetOverview } from "@/lib/admin/overview";
import { fleetQuerySchema, type FleetQuery } from "@/lib/admin/schemas";
import { keyRingIds } from "@/lib/tokens/key-ring";
import { createDatabase, dropDatabase } from "./database";
import { freeLoopbackPort } from "@/test/free-port";
import { signInWithCredentials } from "@/test/http/sign-in";
import { stopServer, waitForServer } from "../next-server";
import { startServer } from "./server";
import { ms, repeat, stats } from "./stats";

const TARGETS = { seedSeconds: 60, listP95Ms: 50, summaryP95Ms: 500 };

function parseOptions() {
  const { values } = parseArgs({
    options: {
      instances: { type: "string" },
      count: { type: "string" },
      requests: { type: "string", default: "200" },
      warmup: { type: "string", default: "20" },
      summaries: { type: "string", default: "30" },
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
    count: number("instances", values.instances ?? values.count ?? "100000", 5_000_000),
    requests: number("requests", values.requests, 100_000),
    warmup: number("warmup", values.warmup, 10_000),
    summaries: number("summaries", values.summaries, 10_000),
    build: values.build,
    keep: values.keep,
    compression: !values["no-compression"],
  };
}

interface ListScenario {
  name: string;
  path: string;
  /** The same SQL as the route, segment by segment (as listFleetPage runs it), via node-postgres. */
  raw: (client: pg.Client) => Promise<void>;
}

type Db = Awaited<ReturnType<typeof openDatabase>>["db"];

function listScenario(name: string, input: Record<string, unknown>, db: Db): ListScenario {
  const query: FleetQuery = fleetQuerySchema.parse(input);
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(input)) if (value !== undefined) params.set(key, Array.isArray(value) ? value.join(",") : String(value));
  return {
    name,
    path: `/api/admin/instances?${params}`,
    raw: async (client) => {
      let rows = 0;
      for (const segment of fleetPageQueries(db, query, new Date())) {
        const { sql: text, params: values } = segment(query.limit + 1 - rows).toSQL();
        rows += (await client.query(text, values as unknown[])).rowCount ?? 0;
        if (rows > query.limit) break;
      }
    },
  };
}

const verdict = (value: number, target: number) => `${(value / target).toFixed(2)}× of target — ${value < target ? "PASS" : "FAIL"}`;

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

  const secret = randomBytes(32).toString("hex");
  const signingKeys = keyRingIds({ current: secret, previous: [] });
  const database = await createDatabase(serverUrl, options.count, signingKeys);
  console.log(`Seeded ${options.count.toLocaleString("en-US")} instances in ${database.seedSeconds.toFixed(1)} s.`);
  const port = await freeLoopbackPort();
  const base = `http://127.0.0.1:${port}`;
  const child = startServer(database.url, port, secret);
  const client = new pg.Client({ connectionString: database.url });
  const queryHandle = await openDatabase({ url: database.url, driver: "postgres", timeouts: { statementMs: 0, queryMs: 0 } });
  const results: { name: string; value: number; target: number; unit: string }[] = [{ name: "seed", value: database.seedSeconds, target: TARGETS.seedSeconds, unit: "s" }];
  try {
    await waitForServer(`${base}/api/health`, child);
    await client.connect();
    const version = (await client.query<{ server_version: string }>("show server_version")).rows[0]!.server_version;
    const cookie = await signInWithCredentials(base, { email: "bench-admin@fleetdeck.test", password: database.adminPassword });
    const get = async (pathname: string): Promise<unknown> => {
      const response = await fetch(`${base}${pathname}`, { headers: { cookie, accept: "application/json", ...(options.compression ? {} : { "accept-encoding": "identity" }) } });
      const text = await response.text();
      if (response.status !== 200) throw new Error(`GET ${pathname} answered ${response.status}: ${text.slice(0, 300)}`);
      return JSON.parse(text) as unknown;
    };

    // The first key-health request computes the overview in the server (nothing cached yet).
    const firstStarted = performance.now();
    const first = (await get("/api/admin/key-health")) as { total?: number };
    const firstKeyHealth = performance.now() - firstStarted;
    if (first.total !== options.count) throw new Error(`key-health counted ${first.total} instances, not ${options.count}`);

    // A cursor 20 pages deep into the main list scenario.
    const main = { keyHealth: ["critical", "expiring"], status: ["running"], sort: "deployedKeyExpiresAt", order: "asc", limit: 50 };
    let page = await listFleetPage(queryHandle.db, fleetQuerySchema.parse(main), new Date());
    for (let index = 1; index < 20 && page.nextCursor; index++) page = await listFleetPage(queryHandle.db, fleetQuerySchema.parse({ ...main, cursor: page.nextCursor }), new Date());
    const ownerPrefix = database.sampleEmail.slice(0, database.sampleEmail.indexOf("@") - 1);
    const scenarios = [
      listScenario("critical+expiring, running, by key expiry", main, queryHandle.db),
      listScenario("same, page 21 (keyset cursor)", { ...main, cursor: page.nextCursor ?? undefined }, queryHandle.db),
      listScenario("everything, by owner email", { sort: "owner", limit: 50 }, queryHandle.db),
      listScenario("owner email search (prefix)", { ownerSearch: ownerPrefix, limit: 50 }, queryHandle.db),
      listScenario("revoked, by last activity (newest)", { keyHealth: ["revoked"], sort: "lastActivityAt", order: "desc", limit: 50 }, queryHandle.db),
      listScenario("unknown expiry, by status", { keyHealth: ["unknown"], sort: "status", limit: 50 }, queryHandle.db),
      listScenario("failed, by latest key expiry (newest)", { status: ["failed"], sort: "keyExpiresAt", order: "desc", limit: 50 }, queryHandle.db),
    ];

    console.log(
      `\nAdmin list, GET /api/admin/instances, 50 per page, PostgreSQL ${version}, next start (${distDir}); ${options.requests} sequential requests ` +
        `per scenario after ${options.warmup} warm-up, ${options.compression ? "gzip" : "uncompressed"}; raw SQL: the same statements via node-postgres.\n`,
    );
    console.log(["scenario".padEnd(42), "API p50", "API p95", "SQL p50", "SQL p95"].join("  "));
    // The floor under every figure below: routing, a handler and loopback HTTP, no session, no database.
    for (let index = 0; index < options.warmup; index++) await fetch(`${base}/api/health`).then((response) => response.text());
    const floor = stats(await repeat(options.requests, async () => void (await fetch(`${base}/api/health`).then((response) => response.text()))));
    console.log(["baseline: GET /api/health (no database)".padEnd(42), ms(floor.p50).padStart(7), ms(floor.p95).padStart(7), "—".padStart(7), "—".padStart(7)].join("  "));
    for (const scenario of scenarios) {
      for (let index = 0; index < options.warmup; index++) {
        const body = (await get(scenario.path)) as { instances?: unknown[] };
        if (!Array.isArray(body.instances) || body.instances.length === 0) throw new Error(`${scenario.name}: no instances`);
      }
      // The API and the SQL alternately in blocks, so drift hits both.
      const api: number[] = [];
      const raw: number[] = [];
      const block = Math.max(1, Math.floor(options.requests / 10));
      for (let done = 0; done < options.requests; done += block) {
        const n = Math.min(block, options.requests - done);
        api.push(...(await repeat(n, async () => void (await get(scenario.path)))));
        raw.push(...(await repeat(n, () => scenario.raw(client))));
      }
      const [a, s] = [stats(api), stats(raw)];
      console.log([scenario.name.padEnd(42), ms(a.p50).padStart(7), ms(a.p95).padStart(7), ms(s.p50).padStart(7), ms(s.p95).padStart(7)].join("  "));
      results.push({ name: `list p95: ${scenario.name}`, value: a.p95, target: TARGETS.listP95Ms, unit: "ms" });
    }

    // Uncached summary: what the server computes on a cache miss, called directly (no cache in between).
    const compute = () => getFleetOverview(queryHandle.db, new Date(), { signingKeys });
    await compute();
    const summary = stats(await repeat(options.summaries, async () => void (await compute())));
    const scan = stats(await repeat(3, async () => void (await scanFleetOverview(queryHandle.db, new Date(), { signingKeys }))));
    console.log(`\nKey-health summary, uncached (getFleetOverview, ${options.summaries} runs): p50 ${ms(summary.p50)}, p95 ${ms(summary.p95)}`);
    console.log(`  └ the first GET /api/admin/key-health (computed in the server): ${ms(firstKeyHealth)}; the full scan it replaced (3 runs): p50 ${ms(scan.p50)}`);
    results.push({ name: "summary uncached p95", value: summary.p95, target: TARGETS.summaryP95Ms, unit: "ms" });

    console.log(`\nTargets (${options.count.toLocaleString("en-US")} instances):`);
    for (const result of results) {
      const shown = result.unit === "s" ? `${result.value.toFixed(1)} s` : ms(result.value);
      console.log(`  ${result.name.padEnd(58)} ${shown.padStart(9)} / ${result.target} ${result.unit}  ${verdict(result.value, result.target)}`);
    }
  } finally {
    await client.end().catch(() => {});
    await queryHandle.close();
    await stopServer(child);
    if (options.keep) console.log(`Kept the database: ${database.url}`);
    else await dropDatabase(serverUrl, database.name);
  }
  if (results.some((result) => result.value >= result.target)) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});

/**
 * Metrics scrape benchmark: what `GET /api/metrics` costs against a 100,000-instance fleet on real
 * PostgreSQL. Prints the cold scrape (it computes the fleet overview), warm scrapes (served from
 * the overview cache), how many overview queries a burst of scrapes inside one cache period ran
 * (target: 1), and the overview query with the metrics' running-instance figures against the same
 * query without them (target: within 1.2x).
 *
 *   TEST_DATABASE_URL=postgres://… npx tsx --conditions=react-server bench/metrics/run.ts [--count 100000] [--scrapes 200] [--keep]
 *
 * It creates a throwaway database next to TEST_DATABASE_URL's, applies the migrations, seeds the
 * fleet with seedFleet and drops the database at the end unless --keep. Scrapes call the route's
 * own function (scrapeMetrics) in this process, one at a time; nothing is built or started.
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { PgDialect } from "drizzle-orm/pg-core";
import pg from "pg";
import { openDatabase } from "@/db/client";
import { applyMigrations } from "@/db/migrate";
import { fleetOverviewQuery } from "@/lib/admin/overview";
import { FRESH_MS } from "@/lib/admin/overview-cache";
import { seedFleet } from "@/lib/demo/seed-fleet";
import { scrapeMetrics } from "@/lib/metrics/scrape";

const TARGET_QUERIES_PER_PERIOD = 1;
const TARGET_RATIO = 1.2;

const { values } = parseArgs({ options: { count: { type: "string", default: "100000" }, scrapes: { type: "string", default: "200" }, keep: { type: "boolean", default: false } } });
const count = Number(values.count);
const scrapes = Number(values.scrapes);

// Counts the overview queries this process sends (drizzle's node-postgres driver goes through Client#query).
let overviewQueries = 0;
const originalQuery = pg.Client.prototype.query as (...args: unknown[]) => unknown;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  const text = typeof args[0] === "string" ? args[0] : (args[0] as { text?: string } | undefined)?.text;
  if (text?.startsWith("with counts as")) overviewQueries += 1;
  return originalQuery.apply(this, args);
} as typeof pg.Client.prototype.query;

const ms = (value: number) => `${value.toFixed(1)} ms`;
const median = (runs: number[]) => [...runs].sort((a, b) => a - b)[Math.floor(runs.length / 2)]!;

async function main() {
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (!serverUrl) throw new Error("bench:metrics needs TEST_DATABASE_URL (a PostgreSQL server to seed the fleet in)");
  const name = `fleetdeck_bench_metrics_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const handle = await openDatabase({ url: url.toString(), driver: "postgres" });
  try {
    await applyMigrations(handle);
    const seeded = performance.now();
    await seedFleet(handle.db, { count, instancesPerUser: 2 });
    console.log(`Seeded ${count.toLocaleString("en")} instances in ${((performance.now() - seeded) / 1000).toFixed(1)} s.\n`);

    overviewQueries = 0;
    let started = performance.now();
    const first = await scrapeMetrics(async () => handle.db);
    const cold = performance.now() - started;
    if (!first.body.includes('fleetdeck_instances{status="running"}')) throw new Error("the scrape has no fleet gauges");

    // A burst of scrapes well inside the same cache period: all served from the cached overview.
    const warm: number[] = [];
    const burstStarted = performance.now();
    while (warm.length < scrapes && performance.now() - burstStarted < FRESH_MS * 0.8) {
      started = performance.now();
      await scrapeMetrics(async () => handle.db);
      warm.push(performance.now() - started);
    }
    const queriesInBurst = overviewQueries;

    // The overview query with and without the running-instance figures, interleaved.
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    const { sql: withRunning, params } = new PgDialect().sqlToQuery(fleetOverviewQuery(new Date()));
    const countsOnly = withRunning.replace(/^with counts as \(/, "").replace(/\), running as[\s\S]*$/, "");
    const countsParams = params.slice(0, Math.max(0, ...[...countsOnly.matchAll(/\$(\d+)/g)].map((match) => Number(match[1]))));
    const plain: number[] = [];
    const full: number[] = [];
    for (let round = 0; round < 12; round++) {
      started = performance.now();
      await client.query(countsOnly, countsParams);
      if (round >= 2) plain.push(performance.now() - started);
      started = performance.now();
      await client.query(withRunning, params);
      if (round >= 2) full.push(performance.now() - started);
    }
    await client.end();
    const ratio = median(full) / median(plain);

    const row = (label: string, value: string) => console.log(`${label.padEnd(48)} ${value}`);
    row("cold scrape (computes the overview)", ms(cold));
    row(`warm scrape, median of ${warm.length}`, ms(median(warm)));
    row(`overview queries for those ${warm.length + 1} scrapes`, `${queriesInBurst} (target ≤ ${TARGET_QUERIES_PER_PERIOD} per ${FRESH_MS / 1000} s cache period)`);
    row("overview query, counts only (median of 10)", ms(median(plain)));
    row("overview query + running expiry and overdue", `${ms(median(full))}  ratio ${ratio.toFixed(2)} (target ≤ ${TARGET_RATIO})`);
    row("scrape size", `${(first.body.length / 1024).toFixed(1)} KiB`);
  } finally {
    await handle.close();
    if (!values.keep) await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

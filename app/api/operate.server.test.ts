/**
 * The operator's routes on the production server (next start): GET /api/metrics (token, content
 * type, every metric the alerts and runbooks rely on, counters that move with real requests) and
 * GET /api/ready, including with its PostgreSQL server stopped and started again.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "@/db/client";
import { applyMigrations } from "@/db/migrate";
import { postgresBinDir, startThrowawayPostgres, type ThrowawayPostgres } from "@/test/db/throwaway-postgres";
import { keyHealthValues } from "@/lib/instances/schemas";
import { instanceStatusValues } from "@/lib/admin/schemas";
import { expectError } from "@/test/http/expectations";
import { findKeyMaterial, seedAccount, startApiServer, type ApiServer, type SeededAccount } from "@/test/http/api-server";
import { metricTypes, parseExposition, sampleValue } from "@/test/metrics/exposition";

const METRICS_TOKEN = "metrics-token-for-the-operate-suite-0123456789";

/** Every metric family a scrape must declare, with its type (README "Operating Fleetdeck"). */
const FAMILIES: Record<string, string> = {
  fleetdeck_instances: "gauge",
  fleetdeck_instance_keys: "gauge",
  fleetdeck_key_expiry_earliest_timestamp_seconds: "gauge",
  fleetdeck_key_refresh_overdue: "gauge",
  fleetdeck_fleet_overview_timestamp_seconds: "gauge",
  fleetdeck_key_refresh_total: "counter",
  fleetdeck_key_mint_duration_seconds: "histogram",
  fleetdeck_key_fallback_total: "counter",
  fleetdeck_key_unavailable_total: "counter",
  fleetdeck_operation_duration_seconds: "histogram",
  fleetdeck_whoami_requests_total: "counter",
  fleetdeck_scheduler_last_pass_timestamp_seconds: "gauge",
  fleetdeck_scheduler_pass_duration_seconds: "histogram",
  fleetdeck_scheduler_interval_seconds: "gauge",
  // Default process metrics.
  process_cpu_seconds_total: "counter",
  process_resident_memory_bytes: "gauge",
  process_start_time_seconds: "gauge",
  nodejs_eventloop_lag_seconds: "gauge",
  nodejs_heap_size_used_bytes: "gauge",
};

// The readiness test stops the database, so where it can, the suite runs on a PostgreSQL server of its own.
const postgresOfItsOwn = postgresBinDir() !== undefined;

describe("GET /api/metrics and GET /api/ready (next start)", () => {
  let server: ApiServer;
  let owner: SeededAccount;
  let postgres: ThrowawayPostgres | undefined;

  beforeAll(async () => {
    postgres = postgresOfItsOwn ? await startThrowawayPostgres() : undefined;
    const seed = async (db: Database) => void (owner = await seedAccount(db, { email: "owner@operate.test" }));
    if (postgres) await onOwnDatabase(async (db) => seed(db));
    server = await startApiServer({
      env: { METRICS_TOKEN, ...(postgres ? { DATABASE_URL: postgres.url, DATABASE_DRIVER: "postgres", PGLITE_DIR: undefined } : {}) },
      seed: postgres ? undefined : seed,
    });
  }, 240_000);

  /** Runs `work` on the suite's own PostgreSQL (migrated first: the server would migrate it too). */
  async function onOwnDatabase<T>(work: (db: Database) => Promise<T>): Promise<T> {
    const handle = await openDatabase({ url: postgres!.url, driver: "postgres" });
    try {
      await applyMigrations(handle);
      return await work(handle.db);
    } finally {
      await handle.close();
    }
  }

  afterAll(async () => {
    await server?.close();
    await postgres?.close();
  });

  const scrape = async () => {
    const response = await server.request("GET", "/api/metrics", { bearer: METRICS_TOKEN });
    expect(response.status, response.text.slice(0, 300)).toBe(200);
    return response;
  };

  it("401 without the token or with a wrong one, 405 for other methods, all in the error shape", async () => {
    expectError(await server.request("GET", "/api/metrics"), 401, "unauthorized");
    expectError(await server.request("GET", "/api/metrics", { bearer: `${METRICS_TOKEN}x` }), 401, "unauthorized");
    expectError(await server.request("GET", "/api/metrics", { headers: { authorization: `Basic ${METRICS_TOKEN}` } }), 401, "unauthorized");
    expectError(await server.request("GET", "/api/metrics", { bearer: server.secrets.CRON_SECRET }), 401, "unauthorized");
    expectError(await server.request("POST", "/api/metrics", { bearer: METRICS_TOKEN }), 405, "method_not_allowed");
  });

  it("answers the Prometheus text format with every metric, every status and every key health", async () => {
    const response = await scrape();
    expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(response.headers.get("cache-control")).toBe("no-store");
    const types = metricTypes(response.text);
    for (const [name, type] of Object.entries(FAMILIES)) expect(types.get(name), name).toBe(type);
    // Nothing per user or per instance: every fleetdeck label is one of a few known names.
    const samples = parseExposition(response.text);
    const labelNames = new Set(samples.filter((s) => s.name.startsWith("fleetdeck_")).flatMap((s) => Object.keys(s.labels)));
    const allowed = new Set(["health", "le", "operation", "outcome", "reason", "result", "status"]);
    expect([...labelNames].filter((name) => !allowed.has(name))).toEqual([]);
    expect(labelNames).toContain("health");

    for (const status of instanceStatusValues.filter((value) => value !== "destroyed")) {
      expect(sampleValue(samples, "fleetdeck_instances", { status }), status).toBe(0);
    }
    for (const health of keyHealthValues) expect(sampleValue(samples, "fleetdeck_instance_keys", { health }), health).toBe(0);
    // No running instance yet: no earliest expiry rather than a 1970 one.
    expect(sampleValue(samples, "fleetdeck_key_expiry_earliest_timestamp_seconds")).toBeUndefined();
    expect(sampleValue(samples, "fleetdeck_key_refresh_overdue")).toBe(0);
    expect(sampleValue(samples, "fleetdeck_fleet_overview_timestamp_seconds")).toBeGreaterThan(Date.now() / 1000 - 120);
    // Series the alerts take rates of exist before their first increment.
    for (const outcome of ["success", "failure"]) expect(sampleValue(samples, "fleetdeck_key_refresh_total", { outcome }), outcome).toBe(0);
    for (const result of ["ok", "token_revoked", "token_invalid", "token_expired"]) {
      expect(sampleValue(samples, "fleetdeck_whoami_requests_total", { result }), result).toBe(0);
    }
    // The suite's server runs no in-process scheduler.
    expect(sampleValue(samples, "fleetdeck_scheduler_interval_seconds")).toBe(0);
  });

  it("counts operations, mints, whoami results and refresh passes as they happen, and leaks no key", async () => {
    const before = parseExposition((await scrape()).text);
    const internal = server.secrets.INTERNAL_API_SECRET!;
    const created = await server.request("POST", "/api/platform/instances", { bearer: internal, body: { userId: owner.row.id, name: "measured" } });
    expect(created.status, created.text).toBe(201);
    const id = (created.body as { id: string }).id;
    const started = await server.request("POST", `/api/platform/instances/${id}/start`, { bearer: internal });
    expect(started.status, started.text).toBe(200);
    expectError(await server.request("GET", "/api/gateway/whoami", { bearer: "not-a-key" }), 401, "token_invalid");
    expect((await server.request("POST", "/api/cron/refresh-keys", { bearer: server.secrets.CRON_SECRET! })).status).toBe(200);

    const after = parseExposition((await scrape()).text);
    const moved = (name: string, labels: Record<string, string>) => (sampleValue(after, name, labels) ?? 0) - (sampleValue(before, name, labels) ?? 0);
    expect(moved("fleetdeck_operation_duration_seconds_count", { operation: "start", outcome: "success" })).toBe(1);
    expect(moved("fleetdeck_key_mint_duration_seconds_count", { outcome: "success" })).toBe(1);
    // The started gateway proved its key to whoami; the made-up key was refused.
    expect(moved("fleetdeck_whoami_requests_total", { result: "ok" })).toBeGreaterThanOrEqual(1);
    expect(moved("fleetdeck_whoami_requests_total", { result: "token_invalid" })).toBe(1);
    expect(moved("fleetdeck_scheduler_pass_duration_seconds_count", { outcome: "success" })).toBe(1);
    expect(sampleValue(after, "fleetdeck_scheduler_last_pass_timestamp_seconds")).toBeGreaterThan(Date.now() / 1000 - 60);
    // The fleet gauges are cached (10 s), so the new running instance may show on a later scrape.
    await expect
      .poll(async () => sampleValue(parseExposition((await scrape()).text), "fleetdeck_instances", { status: "running" }), { timeout: 20_000, interval: 1_000 })
      .toBe(1);
    const latest = parseExposition((await scrape()).text);
    const earliest = sampleValue(latest, "fleetdeck_key_expiry_earliest_timestamp_seconds")!;
    expect(earliest - Date.now() / 1000).toBeGreaterThan(29 * 24 * 3600);
    expect(sampleValue(latest, "fleetdeck_instance_keys", { health: "ok" })).toBe(1);
    // The keys, peppers and hashes to look for live in whichever database the server used.
    expect(await findKeyMaterial(postgres ? { ...server, inspect: onOwnDatabase } : server)).toEqual([]);
  }, 90_000);

  it.skipIf(!postgresOfItsOwn)("GET /api/ready is 200 while the database answers, 503 not_ready within the probe budget while it is down, and 200 again after", async () => {
    await expect.poll(async () => (await server.request("GET", "/api/ready")).status, { timeout: 15_000, interval: 250 }).toBe(200);
    const ready = await server.request("GET", "/api/ready");
    expect(ready.body).toEqual({ ok: true, database: "ok", migrations: expect.any(Number) });
    expect(ready.headers.get("cache-control")).toBe("no-store");

    await postgres!.stop();
    const startedAt = Date.now();
    const down = await server.request("GET", "/api/ready");
    expect(Date.now() - startedAt).toBeLessThan(3_000);
    expectError(down, 503, "not_ready");
    expect(down.text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|postgres:/);
    // Metrics still answer with the process's own figures (the fleet gauges come from the overview cache while it lasts).
    const scrape = await server.request("GET", "/api/metrics", { bearer: METRICS_TOKEN });
    expect(scrape.status).toBe(200);
    const samples = parseExposition(scrape.text);
    expect(sampleValue(samples, "process_start_time_seconds")).toBeGreaterThan(0);

    await postgres!.start();
    await expect.poll(async () => (await server.request("GET", "/api/ready")).status, { timeout: 15_000, interval: 250 }).toBe(200);
  }, 60_000);
});

describe("GET /api/metrics without METRICS_TOKEN (next start)", () => {
  let server: ApiServer;
  beforeAll(async () => {
    server = await startApiServer({ env: { METRICS_TOKEN: undefined } });
  }, 240_000);
  afterAll(async () => {
    await server?.close();
  });

  it("is a 404, whatever is sent", async () => {
    expectError(await server.request("GET", "/api/metrics"), 404, "not_found");
    expectError(await server.request("GET", "/api/metrics", { bearer: METRICS_TOKEN }), 404, "not_found");
    // The server opens its database (and applies migrations) as it starts: ready once that is done.
    await expect.poll(async () => (await server.request("GET", "/api/ready")).status, { timeout: 15_000, interval: 250 }).toBe(200);
  });
});

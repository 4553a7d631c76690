import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { eventOutcome } from "@/db/schema";
import { errorStatus } from "@/lib/errors";

/**
 * Every Fleetdeck metric, in one prom-client registry. Conventions (Prometheus docs, cert-manager):
 * base units (seconds), timestamps as Unix seconds, `_total` counters, and no per-user or
 * per-instance labels — every label takes a handful of values named in the code.
 */
function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Gauges named like counters break the naming convention (`promtool check metrics` flags them);
  // each is the sum of its by-type twin (nodejs_active_handles{type}, …), which stays.
  for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) {
    registry.removeSingleMetric(name);
  }
  const registers = [registry];

  const metrics = {
    registry,

    // Fleet-wide gauges: set from the cached fleet overview at each scrape (lib/metrics/scrape.ts).
    instances: new Gauge({
      name: "fleetdeck_instances",
      help: "Live (not destroyed) instances per lifecycle state, as of fleetdeck_fleet_overview_timestamp_seconds.",
      labelNames: ["status"],
      registers,
    }),
    instanceKeys: new Gauge({
      name: "fleetdeck_instance_keys",
      help: "Live instances per key health (ok, expiring, critical, expired, revoked, unknown, undeployed, ...).",
      labelNames: ["health"],
      registers,
    }),
    keyExpiryEarliest: new Gauge({
      name: "fleetdeck_key_expiry_earliest_timestamp_seconds",
      help: "Earliest deployed-key expiry among running instances (absent when none is running).",
      registers,
    }),
    keyRefreshOverdue: new Gauge({
      name: "fleetdeck_key_refresh_overdue",
      help: "Running instances past their key-refresh point (or revoked) by more than the refresh backoff cap.",
      registers,
    }),
    fleetOverviewTimestamp: new Gauge({
      name: "fleetdeck_fleet_overview_timestamp_seconds",
      help: "When the fleet counts behind the fleet gauges were computed (they are cached briefly).",
      registers,
    }),

    keyRefresh: new Counter({
      name: "fleetdeck_key_refresh_total",
      help: "Key refreshes of running instances, by outcome.",
      labelNames: ["outcome"],
      registers,
    }),
    keyMintDuration: new Histogram({
      name: "fleetdeck_key_mint_duration_seconds",
      help: "Time to mint an instance API key (reading the owner's pepper included), by outcome.",
      labelNames: ["outcome"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    keyFallback: new Counter({
      name: "fleetdeck_key_fallback_total",
      help: "Starts and redeploys that reused the stored key because minting failed, by why minting failed.",
      labelNames: ["reason"],
      registers,
    }),
    keyUnavailable: new Counter({
      name: "fleetdeck_key_unavailable_total",
      help: "Operations refused with key_unavailable (no fresh key and no provably alive stored key), by reason.",
      labelNames: ["reason"],
      registers,
    }),
    operationDuration: new Histogram({
      name: "fleetdeck_operation_duration_seconds",
      help: "Lifecycle operations (start, stop, redeploy, destroy, refresh) by outcome, with their duration.",
      labelNames: ["operation", "outcome"],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    }),
    whoamiRequests: new Counter({
      name: "fleetdeck_whoami_requests_total",
      help: "GET /api/gateway/whoami requests by result: ok, or the error code returned.",
      labelNames: ["result"],
      registers,
    }),

    schedulerLastPass: new Gauge({
      name: "fleetdeck_scheduler_last_pass_timestamp_seconds",
      help: "When this process last completed a key-refresh pass (its scheduler's start time before the first one).",
      registers,
    }),
    schedulerPassDuration: new Histogram({
      name: "fleetdeck_scheduler_pass_duration_seconds",
      help: "Duration of key-refresh passes (in-process scheduler and POST /api/cron/refresh-keys), by outcome.",
      labelNames: ["outcome"],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    }),
    schedulerInterval: new Gauge({
      name: "fleetdeck_scheduler_interval_seconds",
      help: "SCHEDULER_INTERVAL_SECONDS of this process's in-process scheduler (0: not running here).",
      registers,
    }),
  };

  // Series that alerts compute rates over exist from the first scrape, so their first increment
  // is seen as one (a series born at 1 shows no increase).
  for (const outcome of eventOutcome.enumValues) metrics.keyRefresh.inc({ outcome }, 0);
  for (const result of whoamiResultsToInitialise()) metrics.whoamiRequests.inc({ result }, 0);
  return metrics;
}

function whoamiResultsToInitialise(): string[] {
  return ["ok", ...Object.keys(errorStatus).filter((code) => code.startsWith("token_"))];
}

export type FleetdeckMetrics = ReturnType<typeof createMetrics>;

// On globalThis: Next bundles this module separately into the instrumentation (scheduler) bundle
// and into each route bundle, and all of them must count into the one registry that is scraped.
const globalForMetrics = globalThis as typeof globalThis & { fleetdeckMetrics?: FleetdeckMetrics };

/** The process-wide metrics (created, with the default process metrics, on first use). */
export function getMetrics(): FleetdeckMetrics {
  globalForMetrics.fleetdeckMetrics ??= createMetrics();
  return globalForMetrics.fleetdeckMetrics;
}

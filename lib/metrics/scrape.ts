import type { Database } from "@/db";
import { getCachedFleetOverview } from "@/lib/admin/overview-cache";
import type { FleetOverview } from "@/lib/admin/overview";
import { TIMED_OUT, within } from "@/lib/health/readiness";
import { logger } from "@/shared/logger";
import { getMetrics, type FleetdeckMetrics } from "./registry";

export interface MetricsScrape {
  contentType: string;
  body: string;
}

/** The fleet counts must arrive within this, so a hanging database never makes a scrape time out. */
export const FLEET_GAUGES_TIMEOUT_MS = 3_000;

/**
 * The Prometheus exposition of this process: its counters and histograms, the default process
 * metrics, and the fleet gauges set from the cached fleet overview (lib/admin/overview-cache), so
 * scrapes cost at most one fleet query per cache period per replica however often they come.
 * When the overview cannot be had within FLEET_GAUGES_TIMEOUT_MS (database down, nothing cached),
 * the fleet gauges are left out rather than reported stale — `absent(fleetdeck_instances)` then
 * says so — and the rest is served.
 */
export async function scrapeMetrics(openDb: () => Promise<Database>): Promise<MetricsScrape> {
  const metrics = getMetrics();
  let overview: FleetOverview | undefined;
  try {
    const counts = await within(openDb().then((db) => getCachedFleetOverview(db)), FLEET_GAUGES_TIMEOUT_MS);
    if (counts === TIMED_OUT) logger.warn("metrics: fleet overview timed out, fleet gauges left out of this scrape");
    else overview = counts;
  } catch (error) {
    logger.warn("metrics: fleet overview unavailable, fleet gauges left out of this scrape", { error });
  }
  setFleetGauges(metrics, overview);
  return { contentType: metrics.registry.contentType, body: await metrics.registry.metrics() };
}

function setFleetGauges(metrics: FleetdeckMetrics, overview: FleetOverview | undefined): void {
  metrics.instances.reset();
  metrics.instanceKeys.reset();
  // An unlabelled gauge resets to 0, which would read as "expired in 1970": remove its sample instead.
  for (const gauge of [metrics.keyExpiryEarliest, metrics.keyRefreshOverdue, metrics.fleetOverviewTimestamp]) gauge.remove();
  if (!overview) return;
  // Every status and health the overview knows is present, zero or not (it lists them all).
  for (const [status, count] of Object.entries(overview.statuses)) metrics.instances.set({ status }, count);
  for (const [health, count] of Object.entries(overview.buckets)) metrics.instanceKeys.set({ health }, count);
  if (overview.runningKeyExpiresEarliestAt) metrics.keyExpiryEarliest.set(Date.parse(overview.runningKeyExpiresEarliestAt) / 1000);
  metrics.keyRefreshOverdue.set(overview.refreshOverdue);
  metrics.fleetOverviewTimestamp.set(Date.parse(overview.computedAt) / 1000);
}

import type { Database } from "@/db";
import { logger } from "@/shared/logger";
import { getFleetOverview, type FleetOverview } from "./overview";

/**
 * The fleet overview (counts per status and key health, keys expiring per day) is read from the
 * counts the database keeps (lib/admin/health-counts.ts): a few hundred milliseconds at a million
 * instances, still too much to repeat for every page view, API call and metrics scrape. So each
 * server process keeps the latest overview and serves it while it is fresh; every answer carries
 * its `computedAt`, so callers can tell how old it is.
 *
 * - fresh (younger than FRESH_MS): served as is;
 * - stale but younger than MAX_STALE_MS: served at once while one refresh runs in the background;
 * - older, missing or invalidated: the caller waits for a refresh.
 * Concurrent callers share one computation (never a stampede of full scans). A failed refresh is
 * logged and leaves the previous overview in place; a caller that has nothing to serve gets the error.
 */
export const FRESH_MS = 10_000;
export const MAX_STALE_MS = 60_000;

interface CacheEntry {
  value?: FleetOverview;
  /** When `value` was computed (ms since the epoch). */
  at?: number;
  /** Bumped by invalidateFleetOverview; a value computed under an older generation is not served. */
  generation: number;
  valueGeneration?: number;
  refreshing?: { generation: number; promise: Promise<FleetOverview> };
}

// On globalThis, so every bundle of the server (pages, route handlers, actions) shares one cache.
const globalForCache = globalThis as typeof globalThis & { fleetdeckOverviewCache?: WeakMap<Database, CacheEntry> };
function entryFor(db: Database): CacheEntry {
  globalForCache.fleetdeckOverviewCache ??= new WeakMap();
  let entry = globalForCache.fleetdeckOverviewCache.get(db);
  if (!entry) {
    entry = { generation: 0 };
    globalForCache.fleetdeckOverviewCache.set(db, entry);
  }
  return entry;
}

function refresh(db: Database, entry: CacheEntry, clock: () => number): Promise<FleetOverview> {
  // A refresh that started before the latest invalidation may have read the old state: start another.
  if (entry.refreshing?.generation === entry.generation) return entry.refreshing.promise;
  const generation = entry.generation;
  const promise = getFleetOverview(db, new Date(clock()))
    .then((value) => {
      if ((entry.valueGeneration ?? -1) <= generation) {
        entry.value = value;
        entry.at = Date.parse(value.computedAt);
        entry.valueGeneration = generation;
      }
      return value;
    })
    .finally(() => {
      if (entry.refreshing?.promise === promise) entry.refreshing = undefined;
    });
  entry.refreshing = { generation, promise };
  return promise;
}

/** The fleet overview, at most FRESH_MS old when the fleet is viewed steadily (see above). */
export async function getCachedFleetOverview(db: Database, options: { clock?: () => number } = {}): Promise<FleetOverview> {
  const clock = options.clock ?? Date.now;
  const entry = entryFor(db);
  const usable = entry.value !== undefined && entry.valueGeneration === entry.generation;
  const age = entry.at === undefined ? Infinity : clock() - entry.at;
  if (usable && age < FRESH_MS) return entry.value!;
  if (usable && age < MAX_STALE_MS) {
    refresh(db, entry, clock).catch((error: unknown) => logger.error("fleet overview refresh failed", { error }));
    return entry.value!;
  }
  return refresh(db, entry, clock);
}

/**
 * After an admin changes instances (start, stop, redeploy, bulk redeploy), the next overview this
 * process serves is computed afresh, so the admin sees the effect of their own action at once.
 * Other replicas catch up within FRESH_MS of their next view.
 */
export function invalidateFleetOverview(db: Database): void {
  entryFor(db).generation += 1;
}

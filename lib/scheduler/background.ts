import { getDb } from "@/db";
import { getEnv } from "@/shared/env";
import { kickFleetJobs } from "@/lib/fleet-jobs/runner";
import { getLifecycleDeps } from "@/lib/instances/deps";
import { refreshDueInstances } from "@/lib/instances/refresh";
import { getKeyStateCache } from "@/lib/keys/runtime";
import { logger } from "@/shared/logger";
import { recordSchedulerStart, timeSchedulerPass } from "@/lib/metrics";
import { kickRekey } from "./rekey";
import { pruneExpiredRecords } from "@/lib/retention/prune";

const globalForScheduler = globalThis as typeof globalThis & { fleetdeckScheduler?: NodeJS.Timeout; fleetdeckRetention?: NodeJS.Timeout; fleetdeckJobPoll?: NodeJS.Timeout };

const RETENTION_INTERVAL_MS = 24 * 60 * 60 * 1000;

/**
 * The daily retention pass (lib/retention/prune.ts), a minute after start and then every 24 h, in
 * every process whatever SCHEDULER_INTERVAL_SECONDS says: replicas pruning at once is harmless.
 */
function startRetentionPass(): void {
  if (globalForScheduler.fleetdeckRetention) return;
  const prune = async () => {
    try {
      const pruned = await pruneExpiredRecords(await getDb(), { now: new Date(), eventRetentionDays: getEnv().EVENT_RETENTION_DAYS });
      logger.info("retention pass", { ...pruned });
    } catch (error) {
      logger.warn("retention pass failed", { error });
    }
  };
  setTimeout(prune, 60_000).unref();
  globalForScheduler.fleetdeckRetention = setInterval(prune, RETENTION_INTERVAL_MS);
  globalForScheduler.fleetdeckRetention.unref();
}

/**
 * Runs the key-refresh and reconcile passes in this server process every
 * SCHEDULER_INTERVAL_SECONDS (0 turns it off, e.g. when an external cron calls
 * POST /api/cron/refresh-keys instead). Every replica may run it: passes claim instances with
 * `FOR UPDATE SKIP LOCKED` under operation leases, so no instance is refreshed twice. Started once
 * per process from instrumentation.ts; a failing pass is logged and the next one runs as usual.
 */
export function startBackgroundScheduler(): void {
  startRetentionPass();
  const env = getEnv();
  startFleetJobPolling(env.FLEET_JOB_POLL_SECONDS * 1000);
  const intervalMs = env.SCHEDULER_INTERVAL_SECONDS * 1000;
  if (intervalMs === 0 || globalForScheduler.fleetdeckScheduler) return;
  recordSchedulerStart(env.SCHEDULER_INTERVAL_SECONDS);
  let running = false;
  const pass = async () => {
    if (running) return;
    running = true;
    try {
      const deps = await getLifecycleDeps();
      const pass = await timeSchedulerPass(() => refreshDueInstances({}, deps));
      if (pass.claimed > 0 || pass.reconciled > 0) {
        logger.info("scheduler pass", { refreshed: pass.refreshed, failed: pass.failed, reconciled: pass.reconciled });
      }
    } catch (error) {
      logger.warn("scheduler pass failed", { error });
    } finally {
      running = false;
    }
  };
  globalForScheduler.fleetdeckScheduler = setInterval(pass, intervalMs);
  globalForScheduler.fleetdeckScheduler.unref();
  void rekeyOnRotations();
}

/**
 * A pepper rotation on any replica kicks a live re-key of that user's running instances here too,
 * so whichever replica is free first takes them (the claims keep any instance from being taken
 * twice). The rotating replica kicks it itself; this covers it dying or being busy.
 */
async function rekeyOnRotations(): Promise<void> {
  try {
    const cache = await getKeyStateCache();
    cache.onChange((change) => {
      if ("userId" in change) void kickRekey(change.userId, ROTATION_PICKUP);
    });
  } catch (error) {
    // The scheduler's passes still re-key revoked instances; the next start tries again.
    logger.warn("could not subscribe to key revocations; re-keying waits for the scheduler", { error });
  }
}

/** Every replica looks for fleet job items to work (lib/fleet-jobs), so jobs survive restarts and share the load. */
function startFleetJobPolling(intervalMs: number): void {
  if (intervalMs === 0 || globalForScheduler.fleetdeckJobPoll) return;
  globalForScheduler.fleetdeckJobPoll = setInterval(() => void kickFleetJobs(), intervalMs);
  globalForScheduler.fleetdeckJobPoll.unref();
}

const ROTATION_PICKUP = { type: "scheduler", id: "pepper-rotation" } as const;

import { getEnv } from "@/lib/env";
import { getLifecycleDeps } from "@/lib/instances/deps";
import { refreshDueInstances } from "@/lib/instances/refresh";
import { logger } from "@/lib/logger";
import { recordSchedulerStart, timeSchedulerPass } from "@/lib/metrics";

const globalForScheduler = globalThis as typeof globalThis & { fleetdeckScheduler?: NodeJS.Timeout };

/**
 * Runs the key-refresh and reconcile passes in this server process every
 * SCHEDULER_INTERVAL_SECONDS (0 turns it off, e.g. when an external cron calls
 * POST /api/cron/refresh-keys instead). Every replica may run it: passes claim instances with
 * `FOR UPDATE SKIP LOCKED` under operation leases, so no instance is refreshed twice. Started once
 * per process from instrumentation.ts; a failing pass is logged and the next one runs as usual.
 */
export function startBackgroundScheduler(): void {
  const env = getEnv();
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
}

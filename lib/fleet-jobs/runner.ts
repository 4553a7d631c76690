import { getDb } from "@/db";
import { getEnv } from "@/shared/env";
import { getLifecycleDeps } from "@/lib/instances/deps";
import { logger } from "@/shared/logger";
import { revokeKeysAndRekey } from "@/lib/scheduler/rekey";
import { hasRunningFleetJob, workFleetJobs } from "./worker";

const globalForJobs = globalThis as typeof globalThis & { fleetdeckJobRunner?: { running: Promise<void> | null; again: boolean } };

function runner() {
  globalForJobs.fleetdeckJobRunner ??= { running: null, again: false };
  return globalForJobs.fleetdeckJobRunner;
}

/** Seconds an item waits after finding its instance busy. */
const BUSY_RETRY_MS = 5_000;

/**
 * Works fleet jobs in this process now, in the background, until none has a claimable item: called
 * when a job is created or resumed, and by the scheduler every FLEET_JOB_POLL_SECONDS (so jobs
 * resume after a restart and every replica shares the work). One run per process at a time; a kick
 * during a run makes it go once more. Failures are logged; the next kick or poll retries.
 */
export function kickFleetJobs(): Promise<void> {
  const state = runner();
  if (state.running) {
    state.again = true;
    return state.running;
  }
  state.running = (async () => {
    do {
      state.again = false;
      if (!(await hasRunningFleetJob(await getDb()))) continue;
      const env = getEnv();
      const deps = await getLifecycleDeps();
      const summary = await workFleetJobs(
        { concurrency: env.FLEET_JOB_CONCURRENCY, claimTtlMs: env.FLEET_JOB_CLAIM_TTL_SECONDS * 1000, busyRetryMs: BUSY_RETRY_MS },
        { ...deps, revokeKeys: revokeKeysAndRekey },
      );
      if (summary.claimed > 0) logger.info("fleet job items worked", { ...summary });
    } while (state.again);
  })()
    .catch((error: unknown) => logger.warn("working fleet jobs failed; the next poll retries", { error }))
    .finally(() => {
      state.running = null;
    });
  return state.running;
}

import { and, eq, sql } from "drizzle-orm";
import { queryRows, type Database } from "@/db";
import { fleetJobItems, fleetJobs, type FleetJobKind } from "@/db/schema";
import type { Actor, OperationCommit } from "@/lib/audit/events";
import { redeployInstance, startInstance, stopInstance, type LifecycleDeps } from "@/lib/instances";
import { AppError } from "@/lib/errors";
import { toAppError } from "@/lib/instances/operation-errors";
import { logger } from "@/shared/logger";
import { finishDoneFleetJobs, finishJobIfDone } from "./jobs";

export interface FleetJobWorkerOptions {
  /** Items this worker runs at once (FLEET_JOB_CONCURRENCY). */
  concurrency: number;
  /** How long a claim lasts without renewal; a worker renews it every third of that while it runs the item. */
  claimTtlMs: number;
  /** How long an item whose instance was busy waits before it is claimed again. */
  busyRetryMs: number;
  /** Stop claiming after this many items (tests and benchmarks); unbounded by default. */
  limit?: number;
}

export interface FleetJobWorkerDeps extends LifecycleDeps {
  /** Revokes every key of a user and re-keys their running instances (revokeKeysAndRekey). */
  revokeKeys(input: { userId: string; actor: Actor; commit: OperationCommit }): Promise<unknown>;
}

export interface FleetJobWorkSummary {
  claimed: number;
  succeeded: number;
  noop: number;
  failed: number;
  /** Items put back because their instance was busy or the database blinked; claimed again later. */
  retried: number;
}

export interface ClaimedItem {
  id: number;
  jobId: string;
  kind: FleetJobKind;
  createdBy: string | null;
  targetId: string;
  token: string;
}

/**
 * Claims the next item of any running job: first an item whose claim ran out (its worker died),
 * then the first pending item, by position, of the oldest running job whose retry time has come.
 * One statement: `FOR UPDATE SKIP LOCKED` keeps racing replicas off each other's pick, and the new
 * claim token fences the old worker, whatever it writes later is refused. Each branch walks a
 * partial index of exactly the rows it wants (running items by claim expiry; a job's pending items
 * in order), so its cost does not grow with the items already done, nor with paused jobs' items.
 * Undefined when no item is claimable.
 */
export async function claimNextFleetJobItem(db: Database, claimTtlMs: number): Promise<Omit<ClaimedItem, "kind" | "createdBy"> | undefined> {
  const [claimed] = await queryRows<Omit<ClaimedItem, "kind" | "createdBy">>(
    db,
    sql`update fleet_job_items set
          state = 'running',
          claim_token = gen_random_uuid(),
          claim_expires_at = now() + ${claimTtlMs} * interval '1 millisecond',
          attempts = attempts + 1,
          started_at = coalesce(started_at, now())
        where id = coalesce(
          (select item.id from fleet_job_items item
             where item.state = 'running' and item.claim_expires_at < now()
               and exists (select 1 from fleet_jobs job where job.id = item.job_id and job.state = 'running')
             order by item.claim_expires_at limit 1 for update of item skip locked),
          (select pending.id
             from (select id from fleet_jobs where state = 'running' order by created_at, id) job
             cross join lateral (
               select item.id from fleet_job_items item
                 where item.job_id = job.id and item.state = 'pending' and item.not_before <= now()
                 order by item.id limit 1 for update skip locked
             ) pending
             limit 1)
        )
        returning id, job_id as "jobId", target_id as "targetId", claim_token as token`,
  );
  return claimed ? { ...claimed, id: Number(claimed.id) } : undefined;
}

/** The job an item belongs to (kind and who started it never change), read once per job per run. */
function jobLookup(db: Database) {
  const jobs = new Map<string, Promise<{ kind: FleetJobKind; createdBy: string | null }>>();
  return (jobId: string) => {
    let job = jobs.get(jobId);
    if (!job) {
      job = db
        .select({ kind: fleetJobs.kind, createdBy: fleetJobs.createdBy })
        .from(fleetJobs)
        .where(eq(fleetJobs.id, jobId))
        .then(([row]) => row!);
      jobs.set(jobId, job);
    }
    return job;
  };
}

const holdsClaim = (item: ClaimedItem) => and(eq(fleetJobItems.id, item.id), eq(fleetJobItems.claimToken, item.token));

/** Renews the claim; false once another worker holds the item. */
async function renewClaim(db: Database, item: ClaimedItem, claimTtlMs: number): Promise<boolean> {
  const rows = await db
    .update(fleetJobItems)
    .set({ claimExpiresAt: sql`now() + ${claimTtlMs} * interval '1 millisecond'` })
    .where(holdsClaim(item))
    .returning({ id: fleetJobItems.id });
  return rows.length > 0;
}

type ItemOutcome = "succeeded" | "noop";

/**
 * The item's outcome, written in the transaction that ends its operation (OperationCommit): the
 * operation's end (a lease release, a pepper rotation), this record and its audit event (which
 * names the item) commit together, so an item whose operation finished is never run again,
 * whenever its worker dies. Fenced by the claim token: a worker whose claim was taken over cannot
 * commit, and its operation fails instead.
 */
function itemCommit(item: ClaimedItem, recorded: { outcome?: ItemOutcome }): OperationCommit {
  return {
    details: { fleetJobId: item.jobId, fleetJobItemId: item.id },
    async write(tx, outcome) {
      const state = outcome === "noop" ? "noop" : "succeeded";
      const rows = await tx
        .update(fleetJobItems)
        .set({ state, errorCode: null, errorMessage: null, finishedAt: sql`now()`, claimToken: null, claimExpiresAt: null })
        .where(holdsClaim(item))
        .returning({ id: fleetJobItems.id });
      if (rows.length === 0) throw new AppError("operation_in_progress", "Another worker took this fleet job item over; this run's result was not recorded.");
      recorded.outcome = state;
    },
  };
}

/**
 * Runs one claimed item through the same function a single click uses, as the admin who started
 * the job. The item's outcome is recorded with its operation (itemCommit), so it is durable the
 * moment the operation ends. Throws the operation's error; nothing is recorded then.
 */
export async function runClaimedFleetJobItem(item: ClaimedItem, deps: FleetJobWorkerDeps): Promise<ItemOutcome> {
  const actor: Actor = { type: "admin", id: item.createdBy };
  const committed: { outcome?: ItemOutcome } = {};
  const commit = itemCommit(item, committed);
  if (item.kind === "revoke_keys") {
    await deps.revokeKeys({ userId: item.targetId, actor, commit });
    return committed.outcome!;
  }
  const input = { instanceId: item.targetId, actor, commit };
  const operation = { redeploy: redeployInstance, start: startInstance, stop: stopInstance }[item.kind];
  await operation(input, deps);
  return committed.outcome!;
}

/** Failures that say "not now" rather than "no": the item goes back to the queue. */
const RETRYABLE = new Set(["operation_in_progress", "database_unavailable"]);

/**
 * Works fleet jobs until no item is claimable (or `limit` items were claimed), `concurrency` items
 * at a time. Each item runs under its claim, renewed while it runs, and ends in exactly one
 * recorded outcome: succeeded, noop, or failed with the error's code and message; a success
 * commits with its operation, so an item whose operation ended is never run again, whenever its
 * worker dies (a failure is recorded just after, and runs once more if that write is lost). An
 * item whose instance is busy (`operation_in_progress`, the instance's own lease) or whose
 * database write failed transiently is put back with a retry time, not failed. An item whose
 * worker died is claimed again once its claim runs out; the operation lease it may have left on
 * the instance keeps the retry waiting until that lease is recovered too, so no instance ever sees
 * the item's operation twice at the same time. Safe to run on every replica at once.
 */
export async function workFleetJobs(options: FleetJobWorkerOptions, deps: FleetJobWorkerDeps): Promise<FleetJobWorkSummary> {
  const summary: FleetJobWorkSummary = { claimed: 0, succeeded: 0, noop: 0, failed: 0, retried: 0 };
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const jobOf = jobLookup(deps.db);
  const worker = async () => {
    // A job can only have finished when a worker moves past it (items are claimed in job order),
    // so that is when it is checked: once per job and worker, not once per item.
    let lastJobId: string | undefined;
    const leaveJob = async (next: string | undefined) => {
      if (lastJobId && lastJobId !== next) await finishJobIfDone(deps.db, lastJobId).catch((error: unknown) => logger.warn("could not mark a fleet job finished; the next poll does", { jobId: lastJobId, error }));
      lastJobId = next;
    };
    while (summary.claimed < limit) {
      const claimed = await claimNextFleetJobItem(deps.db, options.claimTtlMs);
      await leaveJob(claimed?.jobId);
      if (!claimed) return;
      summary.claimed++;
      const item = { ...claimed, ...(await jobOf(claimed.jobId)) };
      await workItem(item, options, deps, summary);
    }
    await leaveJob(undefined);
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
  // An idle run also finishes any job whose last check was lost (a database blip at that moment).
  if (summary.claimed === 0) await finishDoneFleetJobs(deps.db);
  return summary;
}

async function workItem(item: ClaimedItem, options: FleetJobWorkerOptions, deps: FleetJobWorkerDeps, summary: FleetJobWorkSummary): Promise<void> {
  const heartbeat = setInterval(() => void renewClaim(deps.db, item, options.claimTtlMs).catch(() => {}), Math.max(200, options.claimTtlMs / 3));
  heartbeat.unref();
  let values: Partial<typeof fleetJobItems.$inferInsert> | undefined;
  try {
    summary[await runClaimedFleetJobItem(item, deps)]++;
  } catch (thrown) {
    const error = toAppError(thrown);
    if (RETRYABLE.has(error.code)) {
      summary.retried++;
      values = { state: "pending", notBefore: new Date(deps.now().getTime() + options.busyRetryMs), errorCode: error.code, errorMessage: error.message };
    } else {
      summary.failed++;
      values = { state: "failed", errorCode: error.code, errorMessage: error.message, finishedAt: new Date() };
    }
  } finally {
    clearInterval(heartbeat);
  }
  if (!values) return;
  try {
    // Fenced by the claim token: a worker whose claim was taken over records nothing.
    const [recorded] = await deps.db
      .update(fleetJobItems)
      .set({ ...values, claimToken: null, claimExpiresAt: null })
      .where(holdsClaim(item))
      .returning({ id: fleetJobItems.id });
    if (!recorded) logger.warn("a fleet job item was taken over before its outcome was recorded", { jobId: item.jobId, itemId: item.id });
  } catch (error) {
    // The claim runs out and the item is claimed again: a failed item runs once more.
    logger.warn("could not record a fleet job item's outcome; it will be retried", { jobId: item.jobId, itemId: item.id, error });
  }
}

/** Whether any job is running (one indexed read): the poll's cheap check before it sets up a worker. */
export async function hasRunningFleetJob(db: Database): Promise<boolean> {
  const rows = await db.select({ id: fleetJobs.id }).from(fleetJobs).where(eq(fleetJobs.state, "running")).limit(1);
  return rows.length > 0;
}

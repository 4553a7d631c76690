import { sql } from "drizzle-orm";
import { queryRows, type Database } from "@/db";
import { prunePepperRechecks } from "@/lib/admin/health-counts";

const DAY_MS = 24 * 60 * 60 * 1000;
/** Rows deleted per statement, so a first prune of a large backlog never holds long locks. */
const BATCH = 5_000;

export interface PruneResult {
  signInAttempts: number;
  rateLimitWindows: number;
  idempotencyKeys: number;
  instanceEvents: number;
  /** Pepper re-check rows with nothing left to re-check (prunePepperRechecks). */
  pepperRechecks: number;
}

/**
 * Deletes what is no longer needed: sign-in counters and rate-limit windows older than a day
 * (their windows are minutes long), idempotency keys older than 24 h (callers retry within
 * minutes), audit events older than `eventRetentionDays`, and the overview's pepper re-checks that
 * have nothing left to re-check. Safe to run on every replica at once and to repeat: each pass
 * deletes only rows past their age, in small batches.
 */
export async function pruneExpiredRecords(db: Database, options: { now: Date; eventRetentionDays: number }): Promise<PruneResult> {
  const dayAgo = new Date(options.now.getTime() - DAY_MS);
  const eventCutoff = new Date(options.now.getTime() - options.eventRetentionDays * DAY_MS);
  return {
    signInAttempts: await deleteInBatches(
      db,
      sql`delete from sign_in_attempts where key in (select key from sign_in_attempts where window_started_at < ${dayAgo} and (blocked_until is null or blocked_until < ${options.now}) limit ${BATCH}) returning 1`,
    ),
    rateLimitWindows: await deleteInBatches(
      db,
      sql`delete from rate_limit_windows where (key, window_start) in (select key, window_start from rate_limit_windows where window_start < ${dayAgo} limit ${BATCH}) returning 1`,
    ),
    idempotencyKeys: await deleteInBatches(
      db,
      sql`delete from idempotency_keys where (scope, key) in (select scope, key from idempotency_keys where created_at < ${dayAgo} limit ${BATCH}) returning 1`,
    ),
    instanceEvents: await deleteInBatches(
      db,
      sql`delete from instance_events where id in (select id from instance_events where created_at < ${eventCutoff} limit ${BATCH}) returning 1`,
    ),
    pepperRechecks: await prunePepperRechecks(db),
  };
}

async function deleteInBatches(db: Database, statement: ReturnType<typeof sql>): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = (await queryRows<unknown>(db, statement)).length;
    total += deleted;
    if (deleted < BATCH) return total;
  }
}

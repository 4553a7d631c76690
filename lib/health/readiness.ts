import { getDatabaseHandle, type DatabaseHandle } from "@/db";
import { getMigrationState } from "@/db/readiness";
import { AppError } from "@/lib/errors";
import { logger } from "@/shared/logger";

/** A probe answers within this, whatever the database does (Fly's check timeout is longer). */
export const READINESS_TIMEOUT_MS = 2_000;

export interface Readiness {
  ok: true;
  database: "ok";
  migrations: number;
}

export const TIMED_OUT = Symbol("timed out");

/** `work`'s result, or TIMED_OUT once `ms` have passed (the work itself is left to settle). */
export async function within<T>(work: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  work.catch(() => {});
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Whether this replica can serve: the database answers within READINESS_TIMEOUT_MS and every
 * committed migration is applied (a replica opens the database and applies them on first use, so
 * the first probe after start does that work). Throws `not_ready` (503) otherwise, with a message
 * that names the failed condition and nothing of the driver's error (that is logged). Read-only
 * and safe to call as often as a load balancer likes.
 */
export async function requireReady(options: { handle?: () => Promise<DatabaseHandle>; timeoutMs?: number } = {}): Promise<Readiness> {
  const timeoutMs = options.timeoutMs ?? READINESS_TIMEOUT_MS;
  const check = (async () => {
    const handle = await (options.handle ?? getDatabaseHandle)();
    return getMigrationState(handle.db);
  })();
  let state: Awaited<typeof check> | typeof TIMED_OUT;
  try {
    state = await within(check, timeoutMs);
  } catch (error) {
    logger.warn("readiness: the database did not answer", { error });
    throw new AppError("not_ready", "Not ready: the database cannot be reached.", { reason: "database_unreachable" });
  }
  if (state === TIMED_OUT) {
    throw new AppError("not_ready", `Not ready: the database did not answer within ${timeoutMs} ms.`, { reason: "database_timeout" });
  }
  if (!state.applied) {
    throw new AppError("not_ready", `Not ready: ${state.pending} of ${state.migrations} migrations are not applied yet.`, {
      reason: "migrations_pending",
    });
  }
  return { ok: true, database: "ok", migrations: state.migrations };
}

/**
 * Production start (instrumentation.ts): open the database and apply the committed migrations now
 * rather than on the first request, so a replica is ready as soon as it can be. A failure is
 * logged and changes nothing else: the next use (a readiness probe, say) tries again.
 */
export function openDatabaseAtStart(): void {
  getDatabaseHandle().then(
    () => logger.info("database open, migrations applied"),
    (error: unknown) => logger.error("database not ready at start; /api/ready answers 503 until it is", { error }),
  );
}

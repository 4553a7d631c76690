import { sql } from "drizzle-orm";
import type { Database } from "@/db";
import { rateLimitWindows } from "@/db/schema";
import { AppError } from "@/lib/errors";

export interface RateLimit {
  /** What is limited and for whom, e.g. `ops:<userId>`. */
  key: string;
  /** Calls allowed per window. */
  limit: number;
  windowMs: number;
}

/**
 * Counts one call against a fixed-window limit kept in Postgres, so every replica shares one count
 * per key. Throws `429 rate_limited` (with `retryAfterSeconds`, the `Retry-After` header) once the
 * window's calls are used up; refused calls count too, so hammering does not help. One atomic
 * upsert, so concurrent calls can never exceed the limit. A window boundary may let up to twice
 * the limit through in a short burst, which for "one account must not exhaust the fleet" is fine.
 */
export async function consumeRateLimit(db: Database, rate: RateLimit, now: Date): Promise<void> {
  const windowStart = new Date(Math.floor(now.getTime() / rate.windowMs) * rate.windowMs);
  const [row] = await db
    .insert(rateLimitWindows)
    .values({ key: rate.key, windowStart, hits: 1 })
    .onConflictDoUpdate({
      target: [rateLimitWindows.key, rateLimitWindows.windowStart],
      set: { hits: sql`${rateLimitWindows.hits} + 1` },
    })
    .returning({ hits: rateLimitWindows.hits });
  if (row!.hits <= rate.limit) return;
  const retryAfterSeconds = Math.max(1, Math.ceil((windowStart.getTime() + rate.windowMs - now.getTime()) / 1000));
  throw new AppError(
    "rate_limited",
    `Too many operations: at most ${rate.limit} per ${Math.round(rate.windowMs / 1000)} s. Try again in ${retryAfterSeconds} s.`,
    { retryAfterSeconds },
  );
}

/** Per-user operation limits, from the environment (shared/env) or a test. */
export interface UserLimits {
  /** MAX_INSTANCES_PER_USER: the quota of a user whose row sets none. */
  maxInstancesPerUser: number;
  /** OPERATION_RATE_LIMIT_PER_MINUTE: create, start, stop and redeploy calls of one user. */
  operationsPerMinute: number;
}

/**
 * Counts one create/start/stop/redeploy of a signed-in user against their per-minute limit. Only
 * users are limited: admins, internal services and the scheduler act for the operator.
 */
export async function consumeUserOperation(
  db: Database,
  limits: UserLimits | undefined,
  actor: { type: string; id: string | null },
  now: Date,
): Promise<void> {
  if (!limits || actor.type !== "user" || !actor.id) return;
  await consumeRateLimit(db, { key: `ops:${actor.id}`, limit: limits.operationsPerMinute, windowMs: 60_000 }, now);
}

import { sql } from "drizzle-orm";
import type { Database } from "@/db";
import { signInAttempts } from "@/db/schema";

export const SIGN_IN_WINDOW_MS = 15 * 60 * 1000;
export const MAX_FAILURES_PER_EMAIL = 5;
export const MAX_FAILURES_PER_IP = 30;

export function throttleKeys(email: string, ip: string | undefined) {
  return {
    email: `email:${email.trim().toLowerCase()}`,
    ip: ip ? `ip:${ip}` : undefined,
  };
}

/**
 * True when this email or IP has used up its failures in the current window. Counters live in
 * Postgres, so every replica sees the same count.
 */
export async function isSignInThrottled(
  db: Database,
  email: string,
  ip: string | undefined,
  now = new Date(),
): Promise<boolean> {
  const keys = throttleKeys(email, ip);
  const windowStart = new Date(now.getTime() - SIGN_IN_WINDOW_MS);
  const rows = await db
    .select()
    .from(signInAttempts)
    .where(sql`${signInAttempts.key} in (${keys.email}, ${keys.ip ?? keys.email}) and ${signInAttempts.windowStartedAt} > ${windowStart}`);
  return rows.some((row) =>
    row.key === keys.email ? row.failures >= MAX_FAILURES_PER_EMAIL : row.failures >= MAX_FAILURES_PER_IP,
  );
}

/** Counts one failure against the email and the IP; an expired window starts again at one. */
export async function recordSignInFailure(
  db: Database,
  email: string,
  ip: string | undefined,
  now = new Date(),
): Promise<void> {
  const keys = throttleKeys(email, ip);
  const windowStart = new Date(now.getTime() - SIGN_IN_WINDOW_MS);
  for (const key of [keys.email, keys.ip].filter((value): value is string => Boolean(value))) {
    await db
      .insert(signInAttempts)
      .values({ key, failures: 1, windowStartedAt: now })
      .onConflictDoUpdate({
        target: signInAttempts.key,
        set: {
          failures: sql`case when ${signInAttempts.windowStartedAt} <= ${windowStart} then 1 else ${signInAttempts.failures} + 1 end`,
          windowStartedAt: sql`case when ${signInAttempts.windowStartedAt} <= ${windowStart} then ${now} else ${signInAttempts.windowStartedAt} end`,
        },
      });
  }
}

/** A successful sign-in clears the email's counter (the IP's stays: it may be guessing others). */
export async function clearSignInFailures(db: Database, email: string): Promise<void> {
  await db.delete(signInAttempts).where(sql`${signInAttempts.key} = ${throttleKeys(email, undefined).email}`);
}

import { sql, type SQL } from "drizzle-orm";
import type { Database } from "@/db";
import { signInAttempts } from "@/db/schema";

export const SIGN_IN_WINDOW_MS = 15 * 60 * 1000;

/**
 * Limits per 15-minute window. A key's first `free` failures cost nothing; each one after that
 * doubles the wait before the next attempt (1 s, 2 s, 4 s, … capped at the window), and `max`
 * failures close the key until its window ends. There is deliberately no limit per email alone:
 * that would let anyone lock anyone out, the admins included. A guesser is slowed per (email, IP)
 * and per IP instead, so the owner signing in from their own address is never affected.
 */
export const THROTTLE_LIMITS = {
  pair: { free: 3, max: 10 },
  ip: { free: 10, max: 50 },
} as const;
const MAX_DELAY_SECONDS = SIGN_IN_WINDOW_MS / 1000;

export function throttleKeys(email: string, ip: string | undefined) {
  const address = ip ?? "unknown";
  return { pair: `pair:${email.trim().toLowerCase()}|${address}`, ip: `ip:${address}` };
}

export interface SignInReservation {
  /** Gives the slot back after a correct password: the pair starts afresh, the IP gets its slot back. */
  release(): Promise<void>;
}

/**
 * Counts one failed attempt against the (email, IP) pair and the IP *before* the password is
 * checked, in one transaction, so parallel guesses each take a slot and no more than the limits
 * ever reach the hash. Returns undefined — nothing counted — when either key is over its limit or
 * still inside its delay. Counters live in Postgres, so every replica throttles the same attacker.
 */
export async function reserveSignInAttempt(
  db: Database,
  email: string,
  ip: string | undefined,
  now = new Date(),
): Promise<SignInReservation | undefined> {
  const keys = throttleKeys(email, ip);
  const refused = Symbol("refused");
  try {
    await db.transaction(async (tx) => {
      for (const [kind, key] of [["pair", keys.pair], ["ip", keys.ip]] as const) {
        if (!(await takeSlot(tx as unknown as Database, key, THROTTLE_LIMITS[kind], now))) throw refused;
      }
    });
  } catch (error) {
    if (error === refused) return undefined;
    throw error;
  }
  return {
    async release() {
      await db.delete(signInAttempts).where(sql`${signInAttempts.key} = ${keys.pair}`);
      await db
        .update(signInAttempts)
        .set({ failures: sql`greatest(${signInAttempts.failures} - 1, 0)` })
        .where(sql`${signInAttempts.key} = ${keys.ip}`);
    },
  };
}

/** One conditional upsert: true when the key had a slot (and it is now taken). */
async function takeSlot(db: Database, key: string, limit: { free: number; max: number }, now: Date): Promise<boolean> {
  const windowStart = new Date(now.getTime() - SIGN_IN_WINDOW_MS);
  const expired = sql`${signInAttempts.windowStartedAt} <= ${windowStart}`;
  const failures = sql`case when ${expired} then 1 else ${signInAttempts.failures} + 1 end`;
  const rows = await db
    .insert(signInAttempts)
    .values({ key, failures: 1, windowStartedAt: now, blockedUntil: null })
    .onConflictDoUpdate({
      target: signInAttempts.key,
      set: {
        failures,
        windowStartedAt: sql`case when ${expired} then ${now} else ${signInAttempts.windowStartedAt} end`,
        blockedUntil: blockedUntil(failures, limit.free, now),
      },
      setWhere: sql`${expired} or ((${signInAttempts.blockedUntil} is null or ${signInAttempts.blockedUntil} <= ${now}) and ${signInAttempts.failures} < ${limit.max})`,
    })
    .returning({ failures: signInAttempts.failures });
  return rows.length === 1;
}

/** The progressive delay after the `failures`-th failure: none within the free ones, then doubling. */
function blockedUntil(failures: SQL, free: number, now: Date): SQL {
  return sql`case when ${failures} > ${free}
    then ${now}::timestamptz + make_interval(secs => least(power(2, ${failures} - ${free} - 1), ${MAX_DELAY_SECONDS}))
    else null end`;
}

/** The failures currently counted under a key (`throttleKeys`), for tests and support. */
export async function countSignInFailures(db: Database, key: string): Promise<number> {
  const [row] = await db.select({ failures: signInAttempts.failures }).from(signInAttempts).where(sql`${signInAttempts.key} = ${key}`);
  return row?.failures ?? 0;
}

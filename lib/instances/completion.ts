import { isDatabaseUnavailable } from "@/db/errors";
import { logger } from "@/shared/logger";

/** One write that finishes an operation (its lease release, its audit event). */
export interface CompletionWrite {
  /** Names the write in logs, e.g. "release the operation lease". */
  label: string;
  write: () => Promise<unknown>;
}

export interface CompletionRetryOptions {
  /** First retry delay; doubles per attempt up to `maxDelayMs`. */
  minDelayMs: number;
  maxDelayMs: number;
  /** After this long the write is given up and logged (the lease itself has long expired by then). */
  giveUpAfterMs: number;
}

/**
 * Retries close together so a lease is free about a second after the database returns, far sooner
 * than the lease TTL; an outage costs one cheap connection attempt per second per pending write.
 */
export const DEFAULT_COMPLETION_RETRY: CompletionRetryOptions = { minDelayMs: 100, maxDelayMs: 1_000, giveUpAfterMs: 30 * 60_000 };

const pending = new Set<Promise<void>>();

/**
 * Runs an operation's closing writes in order. Each is tried at once; a write that fails because
 * the database is unavailable (by code or brand, db/errors.ts) is retried with capped backoff in
 * the background, followed by the writes after it, so the caller can answer at once while the
 * lease release and the audit event still land, in order, seconds after the database returns.
 * Any other failure of a write is logged and the next write is tried (as before: a bug in one
 * must not keep the lease held).
 *
 * Resolves once every write has either succeeded, failed for good, or been handed to the
 * background. Safe to call concurrently; writes must be idempotent or conditional (a lease
 * release is conditional on its token, so a late one never frees another operation's lease).
 * A process that exits while writes are pending loses them; the lease then expires on its TTL.
 */
export async function completeDurably(
  writes: CompletionWrite[],
  context: Record<string, unknown>,
  options: CompletionRetryOptions = DEFAULT_COMPLETION_RETRY,
): Promise<void> {
  for (let index = 0; index < writes.length; index += 1) {
    const step = writes[index]!;
    try {
      await step.write();
    } catch (error) {
      if (!isDatabaseUnavailable(error)) {
        logger.error(`could not ${step.label}`, { ...context, error });
        continue;
      }
      logger.warn(`could not ${step.label}: the database is unavailable; retrying in the background`, context);
      const background = retryInBackground(writes.slice(index), context, options);
      pending.add(background);
      void background.finally(() => pending.delete(background));
      return;
    }
  }
}

/** Resolves when every write handed to the background so far has landed or been given up (tests, shutdown). */
export async function completionsSettled(): Promise<void> {
  while (pending.size > 0) await Promise.allSettled([...pending]);
}

async function retryInBackground(writes: CompletionWrite[], context: Record<string, unknown>, options: CompletionRetryOptions): Promise<void> {
  const started = Date.now();
  for (const step of writes) {
    for (let attempt = 0; ; attempt += 1) {
      await sleep(Math.min(options.maxDelayMs, options.minDelayMs * 2 ** attempt));
      try {
        await step.write();
        logger.info(`${step.label}: done after the database returned`, { ...context, attempts: attempt + 2, afterMs: Date.now() - started });
        break;
      } catch (error) {
        if (!isDatabaseUnavailable(error)) {
          logger.error(`could not ${step.label}`, { ...context, error });
          break;
        }
        if (Date.now() - started > options.giveUpAfterMs) {
          logger.error(`gave up trying to ${step.label}: the database stayed unavailable`, { ...context, afterMs: Date.now() - started });
          return;
        }
      }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

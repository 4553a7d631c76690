/**
 * One-line instrumentation for the code paths the metrics describe. Each recorder is cheap,
 * synchronous and never throws into its caller; label values come from the codes and reasons the
 * code already uses (error codes, `details.reason`, operation names), so none is per user or instance.
 */
import type { InstanceEventInput } from "@/lib/audit/events";
import { errorStatus, type ErrorCode } from "@/lib/errors";
import type { LifecycleOperation } from "@/lib/instances/lease";
import { getMetrics } from "./registry";

export { getMetrics } from "./registry";

type Outcome = InstanceEventInput["outcome"];

/** An error's code when it is one of ours (by shape, not class: see STACK_NOTES), else undefined. */
function errorCodeOf(error: unknown): ErrorCode | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && Object.hasOwn(errorStatus, code) ? (code as ErrorCode) : undefined;
}

/** `details.reason` of one of our errors (a constant such as `mint_timeout` or a fallback refusal). */
function reasonOf(error: unknown): string | undefined {
  if (!errorCodeOf(error)) return undefined;
  const reason = (error as { details?: { reason?: unknown } }).details?.reason;
  return typeof reason === "string" && /^[a-z0-9_]{1,64}$/.test(reason) ? reason : undefined;
}

/**
 * A lifecycle operation finished (runOperation): its duration by operation and outcome; a
 * refresh also counts in fleetdeck_key_refresh_total, and a `key_unavailable` failure in
 * fleetdeck_key_unavailable_total by its reason.
 */
export function recordOperation(operation: LifecycleOperation, outcome: Outcome, durationMs: number, error?: unknown): void {
  const metrics = getMetrics();
  metrics.operationDuration.observe({ operation, outcome }, durationMs / 1000);
  if (operation === "refresh") metrics.keyRefresh.inc({ outcome });
  if (errorCodeOf(error) === "key_unavailable") metrics.keyUnavailable.inc({ reason: reasonOf(error) ?? "unspecified" });
}

/** Times one key mint (fleetdeck_key_mint_duration_seconds): `success`, `timeout` or `failure`. */
export async function timeKeyMint<T>(mint: () => Promise<T>): Promise<T> {
  const stop = getMetrics().keyMintDuration.startTimer();
  try {
    const minted = await mint();
    stop({ outcome: "success" });
    return minted;
  } catch (error) {
    stop({ outcome: reasonOf(error) === "mint_timeout" ? "timeout" : "failure" });
    throw error;
  }
}

/** A start or redeploy reused the stored key; `mintError` is why the mint failed. */
export function recordKeyFallback(mintError: unknown): void {
  getMetrics().keyFallback.inc({ reason: reasonOf(mintError) ?? errorCodeOf(mintError) ?? "mint_error" });
}

/**
 * Wraps the whoami handler: counts each request by result, `ok` or the error code it answers with
 * (`token_revoked`, `token_invalid`, …). The handler's response or error passes through unchanged.
 */
export function countWhoamiResults<Args extends unknown[]>(handler: (...args: Args) => Promise<Response>) {
  return async (...args: Args): Promise<Response> => {
    const requests = getMetrics().whoamiRequests;
    try {
      const response = await handler(...args);
      requests.inc({ result: "ok" });
      return response;
    } catch (error) {
      requests.inc({ result: errorCodeOf(error) ?? "internal_error" });
      throw error;
    }
  };
}

/** The in-process scheduler started with this interval (0: it does not run in this process). */
export function recordSchedulerStart(intervalSeconds: number, now: Date = new Date()): void {
  const metrics = getMetrics();
  metrics.schedulerInterval.set(intervalSeconds);
  // Until the first pass completes, "last pass" is the start: a scheduler that never completes
  // one is stalled from its start, not from 1970.
  metrics.schedulerLastPass.set(now.getTime() / 1000);
}

/** Times one key-refresh pass; a completed pass moves fleetdeck_scheduler_last_pass_timestamp_seconds. */
export async function timeSchedulerPass<T>(pass: () => Promise<T>): Promise<T> {
  const metrics = getMetrics();
  const stop = metrics.schedulerPassDuration.startTimer();
  try {
    const result = await pass();
    stop({ outcome: "success" });
    metrics.schedulerLastPass.set(Date.now() / 1000);
    return result;
  } catch (error) {
    stop({ outcome: "failure" });
    throw error;
  }
}

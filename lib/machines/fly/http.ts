import type { z } from "zod";
import { MachineError } from "../types";
import { flyErrorSchema } from "./schemas";

/**
 * HTTP transport for the Fly Machines API: one timeout per request, retries only where they are safe,
 * errors mapped to MachineError. Knows nothing about machines; the provider supplies paths, schemas
 * and, for mutations, how to find out whether a request whose answer was lost took effect.
 */

export interface RetryPolicy {
  /** Attempts per call, including the first. */
  maxAttempts: number;
  /** First backoff step; doubles per attempt, with jitter. */
  baseDelayMs: number;
  /** Cap of one backoff step. */
  maxDelayMs: number;
  /** A Retry-After longer than this is not slept through: the call fails `rate_limited` with `retryAfterMs`. */
  maxRetryAfterMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { maxAttempts: 4, baseDelayMs: 250, maxDelayMs: 5_000, maxRetryAfterMs: 30_000 };

export interface FlyHttpOptions {
  /** e.g. https://api.machines.dev */
  baseUrl: string;
  token: string;
  /** Per-request timeout (wait requests add their server-side timeout on top). */
  requestTimeoutMs: number;
  retry: RetryPolicy;
}

type Query = Record<string, string | string[] | boolean | number | undefined>;

export interface FlyRequest {
  method: "GET" | "POST" | "DELETE";
  path: string;
  query?: Query;
  body?: unknown;
  /** Overrides the per-request timeout (long-polling wait). */
  timeoutMs?: number;
  /** Short name for messages, e.g. "update machine 3d8d…". */
  what: string;
}

type Outcome =
  | { kind: "response"; status: number; headers: Headers; body: unknown }
  | { kind: "network"; error: unknown }
  | { kind: "timeout"; error: unknown };

/** What a mutation's reconcile step found after an ambiguous failure. */
export type Reconciled<T> = { applied: true; value: T } | { applied: false; retry?: Partial<FlyRequest> };

export interface MutationRequest<T> extends FlyRequest {
  method: "POST" | "DELETE";
  schema: z.ZodType<T>;
  /** Statuses that mean "capacity" for this operation (create/update/start reserve resources). */
  capacityStatuses?: number[];
  /**
   * Re-reads state after an ambiguous failure (no answer, 502, 504) and says whether the request took
   * effect. When it did not, the request is sent again (with `retry` merged in, e.g. a version guard).
   */
  reconcile: () => Promise<Reconciled<T>>;
}

const JWT_SHAPE = /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}/g;

/** Fly error text, trimmed and with anything token-shaped removed, so it is safe in a message or log. */
function safeUpstreamText(text: string): string {
  return text.replace(JWT_SHAPE, "[redacted]").slice(0, 300);
}

export function parseRetryAfter(header: string | null, now: number = Date.now()): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class FlyHttp {
  constructor(private readonly options: FlyHttpOptions) {}

  private backoffMs(attempt: number): number {
    const { baseDelayMs, maxDelayMs } = this.options.retry;
    const step = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
    // "Equal jitter": never less than half a step, so a burst of callers spreads out without retrying instantly.
    return step / 2 + Math.random() * (step / 2);
  }

  /** How long to wait before the next attempt; throws when Retry-After asks for more than we are willing to sleep. */
  private delayFor(outcome: Outcome, attempt: number, what: string): number {
    const backoff = this.backoffMs(attempt);
    if (outcome.kind !== "response") return backoff;
    const retryAfterMs = parseRetryAfter(outcome.headers.get("retry-after"));
    if (retryAfterMs === undefined) return backoff;
    if (retryAfterMs > this.options.retry.maxRetryAfterMs) {
      throw new MachineError("rate_limited", `fly ${what}: asked to retry after ${retryAfterMs} ms`, {
        status: outcome.status,
        retryAfterMs,
      });
    }
    return retryAfterMs + Math.random() * this.options.retry.baseDelayMs;
  }

  private async sendOnce(request: FlyRequest): Promise<Outcome> {
    const url = new URL(request.path, this.options.baseUrl);
    for (const [name, value] of Object.entries(request.query ?? {})) {
      if (value === undefined) continue;
      for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(name, String(item));
    }
    const headers: Record<string, string> = { authorization: `Bearer ${this.options.token}`, accept: "application/json" };
    if (request.body !== undefined) headers["content-type"] = "application/json";
    const timeoutMs = request.timeoutMs ?? this.options.requestTimeoutMs;
    try {
      const response = await fetch(url, {
        method: request.method,
        headers,
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: "error",
      });
      const text = await response.text();
      let body: unknown;
      try {
        body = text === "" ? undefined : JSON.parse(text);
      } catch {
        body = text;
      }
      return { kind: "response", status: response.status, headers: response.headers, body };
    } catch (error) {
      if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
        return { kind: "timeout", error };
      }
      return { kind: "network", error };
    }
  }

  private failure(outcome: Outcome, what: string, capacityStatuses: number[] = []): MachineError {
    if (outcome.kind === "timeout") return new MachineError("timeout", `fly ${what}: no answer in time`, { cause: outcome.error });
    if (outcome.kind === "network") {
      const cause = (outcome.error as { cause?: { code?: unknown } } | undefined)?.cause;
      const code = typeof cause?.code === "string" ? ` (${cause.code})` : "";
      return new MachineError("upstream", `fly ${what}: connection failed${code}`, { cause: outcome.error });
    }
    const { status } = outcome;
    const parsed = flyErrorSchema.safeParse(outcome.body);
    const flyStatus = parsed.success ? parsed.data.status : undefined;
    const detail = parsed.success && parsed.data.error ? `: ${safeUpstreamText(parsed.data.error)}` : "";
    const message = `fly ${what}: ${status}${detail}`;
    if (status === 404) return new MachineError("not_found", message, { status });
    if (flyStatus === "insufficient_capacity" || flyStatus === "volume_placement_capacity" || capacityStatuses.includes(status)) {
      return new MachineError("capacity", message, { status });
    }
    if (status === 429) {
      const retryAfterMs = parseRetryAfter(outcome.headers.get("retry-after"));
      return new MachineError("rate_limited", message, { status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
    }
    if (status === 408) return new MachineError("timeout", message, { status });
    return new MachineError("upstream", message, { status });
  }

  private parse<T>(schema: z.ZodType<T>, outcome: Extract<Outcome, { kind: "response" }>, what: string): T {
    const parsed = schema.safeParse(outcome.body);
    if (!parsed.success) {
      throw new MachineError("upstream", `fly ${what}: unexpected response body`, { status: outcome.status, cause: parsed.error });
    }
    return parsed.data;
  }

  /**
   * A GET, retried on network errors, timeouts, 429, 500, 502, 503 and 504 (reads are always safe to
   * repeat). Statuses in `accept` are returned to the caller instead of being treated as errors.
   * Never sleeps past `deadline` (epoch ms) when one is given.
   */
  async read<T>(
    request: FlyRequest & { method: "GET"; schema: z.ZodType<T>; accept?: number[]; deadline?: number },
  ): Promise<{ status: number; body: T | undefined }> {
    const { maxAttempts } = this.options.retry;
    for (let attempt = 1; ; attempt += 1) {
      const outcome = await this.sendOnce(request);
      if (outcome.kind === "response") {
        if (outcome.status >= 200 && outcome.status < 300) {
          return { status: outcome.status, body: this.parse(request.schema, outcome, request.what) };
        }
        if (request.accept?.includes(outcome.status)) return { status: outcome.status, body: undefined };
        if (![429, 500, 502, 503, 504].includes(outcome.status)) throw this.failure(outcome, request.what);
      }
      if (attempt >= maxAttempts) throw this.failure(outcome, request.what);
      const delay = this.delayFor(outcome, attempt, request.what);
      if (request.deadline !== undefined && Date.now() + delay >= request.deadline) throw this.failure(outcome, request.what);
      await sleep(delay);
    }
  }

  /**
   * A POST or DELETE. Sent again directly only when Fly said it did not process it (429, 503). After an
   * ambiguous failure — no answer, a reset connection, 502, 504 — it is never blindly repeated: the
   * provider's `reconcile` re-reads state, and the request is sent again only if it did not take effect.
   * A 409 on such a guarded repeat is reconciled too (the first request may have landed meanwhile).
   */
  async mutate<T>(request: MutationRequest<T>): Promise<T> {
    const { maxAttempts } = this.options.retry;
    let current: FlyRequest = request;
    let guardedRepeat = false;
    for (let attempt = 1; ; attempt += 1) {
      const outcome = await this.sendOnce(current);
      if (outcome.kind === "response" && outcome.status >= 200 && outcome.status < 300) {
        return this.parse(request.schema, outcome, request.what);
      }
      const ambiguous =
        outcome.kind !== "response" ||
        outcome.status === 502 ||
        outcome.status === 504 ||
        (outcome.status === 409 && guardedRepeat);
      const refused = outcome.kind === "response" && (outcome.status === 429 || outcome.status === 503);
      if (!ambiguous && !refused) throw this.failure(outcome, request.what, request.capacityStatuses);

      if (ambiguous) {
        let found: Reconciled<T>;
        try {
          found = await request.reconcile();
        } catch (error) {
          // We cannot tell whether it happened: report the original failure, with the re-read's as cause.
          const failure = this.failure(outcome, request.what, request.capacityStatuses);
          throw new MachineError(failure.kind, `${failure.message} (and re-reading state failed)`, {
            ...(failure.status === undefined ? {} : { status: failure.status }),
            cause: error,
          });
        }
        if (found.applied) return found.value;
        if (found.retry) {
          current = { ...request, ...found.retry };
          guardedRepeat = true;
        }
      }
      if (attempt >= maxAttempts) throw this.failure(outcome, request.what, request.capacityStatuses);
      await sleep(this.delayFor(outcome, attempt, request.what));
    }
  }
}

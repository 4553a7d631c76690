/** Every expected failure, with the HTTP status it maps to. */
export const errorStatus = {
  bad_request: 400,
  unauthorized: 401,
  token_expired: 401,
  token_revoked: 401,
  token_invalid: 401,
  forbidden: 403,
  csrf_rejected: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  operation_in_progress: 409,
  invalid_state: 409,
  quota_exceeded: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  validation_failed: 422,
  rate_limited: 429,
  machine_error: 502,
  credential_unverified: 502,
  key_unavailable: 503,
  misconfigured: 503,
  database_unavailable: 503,
  not_ready: 503,
  internal_error: 500,
} as const;

export type ErrorCode = keyof typeof errorStatus;

// A symbol from the global registry is the same in every bundle: Next compiles a module once per
// bundle (instrumentation, each route), so an AppError thrown by code loaded through one bundle is
// no `instanceof` the class of another. The brand and the name say what it is instead.
const APP_ERROR_BRAND = Symbol.for("fleetdeck.error.AppError");

/** An expected failure whose code and message are safe to show to the caller. */
export class AppError extends Error {
  readonly status: number;
  readonly [APP_ERROR_BRAND] = true;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "AppError";
    this.status = errorStatus[code];
  }
}

/**
 * Whether `error` is an AppError (or a subclass), whichever bundle's copy of the class made it: a
 * brand check, not `instanceof`.
 */
export function isAppError(error: unknown): error is AppError {
  return hasErrorBrand(error, APP_ERROR_BRAND) && typeof (error as { code?: unknown }).code === "string";
}

/**
 * The brand check behind `isAppError` and `isMachineError`: an Error (the global class is shared by
 * every bundle) carrying the registry symbol. Subclasses keep the brand whatever their name.
 */
export function hasErrorBrand(error: unknown, brand: symbol): error is Error {
  return error instanceof Error && (error as unknown as Record<symbol, unknown>)[brand] === true;
}

/** Seconds a caller should wait before retrying after `database_unavailable` (sent as Retry-After). */
export const DATABASE_RETRY_AFTER_SECONDS = 2;

/**
 * What a lost or unreachable database becomes for callers: `503 database_unavailable`, retryable.
 * Recognise the cause with `isDatabaseUnavailable` (db/errors.ts: by code and brand).
 */
export function databaseUnavailableError(cause?: unknown): AppError {
  const error = new AppError("database_unavailable", "The database is unavailable right now. Try again in a few seconds.", {
    retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS,
  });
  if (cause !== undefined) error.cause = cause;
  return error;
}

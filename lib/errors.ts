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
  internal_error: 500,
} as const;

export type ErrorCode = keyof typeof errorStatus;

/** An expected failure whose code and message are safe to show to the caller. */
export class AppError extends Error {
  readonly status: number;

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

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

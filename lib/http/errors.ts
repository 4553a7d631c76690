import { ZodError } from "zod";
import { isDatabaseUnavailable } from "@/db/errors";
import { DATABASE_RETRY_AFTER_SECONDS, errorStatus, isAppError, type ErrorCode } from "@/lib/errors";
import { logger } from "@/shared/logger";

export interface ErrorBody {
  error: { code: string; message: string; fields?: Record<string, string[]> };
}

/** The one error shape every route answers with. Never cached. */
export function errorResponse(
  code: ErrorCode,
  message: string,
  init: { status?: number; fields?: Record<string, string[]>; headers?: HeadersInit } = {},
): Response {
  const body: ErrorBody = { error: { code, message, ...(init.fields ? { fields: init.fields } : {}) } };
  const headers = new Headers(init.headers);
  headers.set("cache-control", "no-store");
  return Response.json(body, { status: init.status ?? errorStatus[code], headers });
}

/**
 * Maps anything thrown by a handler to a response: AppError → its status, ZodError → 422 with
 * field errors, a lost or unreachable database (by code or brand) → 503 `database_unavailable`
 * with Retry-After, anything else → a logged 500 whose body says nothing about the cause.
 */
export function toErrorResponse(error: unknown): Response {
  if (isAppError(error)) {
    const retryAfter = error.code === "database_unavailable" ? DATABASE_RETRY_AFTER_SECONDS : error.details?.retryAfterSeconds;
    return errorResponse(error.code, error.message, typeof retryAfter === "number" ? { headers: { "retry-after": String(retryAfter) } } : {});
  }
  if (isDatabaseUnavailable(error)) {
    logger.warn("database unavailable", { error });
    return errorResponse("database_unavailable", "The database is unavailable right now. Try again in a few seconds.", {
      headers: { "retry-after": String(DATABASE_RETRY_AFTER_SECONDS) },
    });
  }
  if (error instanceof ZodError) {
    return errorResponse("validation_failed", describeZodError(error), { fields: fieldErrors(error) });
  }
  logger.error("unhandled error in route handler", { error });
  return errorResponse("internal_error", "Something went wrong on our side. Please try again.");
}

export function describeZodError(error: ZodError): string {
  const first = error.issues[0];
  if (!first) return "The request is invalid.";
  const where = first.path.length ? `${first.path.join(".")}: ` : "";
  return `${where}${first.message}`;
}

function fieldErrors(error: ZodError): Record<string, string[]> {
  const fields: Record<string, string[]> = {};
  for (const issue of error.issues) {
    const key = issue.path.join(".") || "_";
    (fields[key] ??= []).push(issue.message);
  }
  return fields;
}

import { isDatabaseUnavailable } from "@/db/errors";
import { AppError, databaseUnavailableError, isAppError } from "@/lib/errors";
import { isMachineError, type MachineError } from "@/lib/machines/types";
import { logger } from "@/shared/logger";

/**
 * What an operation's caller and its audit event see for whatever it threw: our own errors as
 * they are, machine errors as `machine_error` (a stale-version 409 as `operation_in_progress`),
 * a lost database as `database_unavailable`, anything else logged and reported as
 * `internal_error` with nothing of it revealed.
 */
export function toAppError(error: unknown): AppError {
  if (isAppError(error)) return error;
  if (isMachineError(error)) return machineAppError(error);
  if (isDatabaseUnavailable(error)) return databaseUnavailableError(error);
  logger.error("unexpected error in a lifecycle operation", { error });
  return new AppError("internal_error", "The operation failed unexpectedly.");
}

function machineAppError(error: MachineError): AppError {
  // Fly's answer to a write whose `current_version` is stale (or a create whose name is taken):
  // someone else changed the machine. Nothing was written; retrying is the caller's call.
  if (error.status === 409) {
    return new AppError("operation_in_progress", "The instance's machine was changed by another operation meanwhile; nothing was changed. Try again.", {
      machineErrorKind: error.kind,
    });
  }
  const prefix: Record<MachineError["kind"], string> = {
    not_found: "The instance's machine no longer exists",
    capacity: "The machine provider has no capacity in this region right now",
    rate_limited: "The machine provider is rate-limiting requests; try again shortly",
    timeout: "The machine did not respond in time",
    upstream: "The machine provider reported an error",
  };
  return new AppError("machine_error", `${prefix[error.kind]}: ${error.message}`, { machineErrorKind: error.kind });
}

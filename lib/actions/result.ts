import { z, ZodError } from "zod";
import { isDatabaseUnavailable } from "@/db/errors";
import { databaseUnavailableError, isAppError } from "@/lib/errors";
import { describeZodError } from "@/lib/http/errors";
import { logger } from "@/shared/logger";

/** What a server action answers: expected failures are values (thrown errors are hidden in production). */
export type ActionResult<T> =
  | { ok: true; data: T }
  | { ok: false; error: { code: string; message: string; fields?: Record<string, string[]> } };

/**
 * Runs a server action's work and returns its outcome as a value: an AppError keeps its code and
 * message (written to be shown), invalid input becomes `validation_failed` with field errors, a
 * lost database `database_unavailable`, and
 * anything else is logged and answered with a message that reveals nothing.
 */
export async function toActionResult<T>(work: () => Promise<T>): Promise<ActionResult<T>> {
  try {
    return { ok: true, data: await work() };
  } catch (error) {
    if (isAppError(error)) return { ok: false, error: { code: error.code, message: error.message } };
    if (isDatabaseUnavailable(error)) return { ok: false, error: { code: "database_unavailable", message: databaseUnavailableError().message } };
    if (error instanceof ZodError) {
      const fields = z.flattenError(error).fieldErrors as Record<string, string[]>;
      return { ok: false, error: { code: "validation_failed", message: describeZodError(error), fields } };
    }
    logger.error("unexpected error in a server action", { error });
    return { ok: false, error: { code: "internal_error", message: "Something went wrong on our side. Please try again." } };
  }
}

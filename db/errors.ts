/**
 * Telling "the database is unreachable right now" apart from every other database error, by code
 * and brand only (driver messages are not an interface).
 *
 * Two sources count:
 * - codes: the network errors Node reports while connecting or talking to the server, and the
 *   SQLSTATEs Postgres sends when it cannot serve a connection (class 08, shutdown and start-up,
 *   too many clients);
 * - the brand: db/client.ts marks every error the driver produces for a connection that could not be
 *   made or is no longer usable ("Connection terminated unexpectedly", connect timeouts, a client
 *   that is no longer queryable), which carry no code at all.
 *
 * Drivers and drizzle wrap errors (DrizzleQueryError → pg error), so `cause` chains are followed.
 */

const UNAVAILABLE = Symbol.for("fleetdeck.db.unavailable");

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

const SERVER_UNAVAILABLE_SQLSTATES = new Set([
  "57P01", // admin_shutdown: the server is shutting down or restarting
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now: starting up, shutting down, in recovery
  "53300", // too_many_connections
]);

/** Marks `error` as a lost or impossible connection and returns it (for rethrowing). */
export function markDatabaseUnavailable<E>(error: E): E {
  if (error !== null && typeof error === "object" && !Object.isFrozen(error)) {
    Object.defineProperty(error, UNAVAILABLE, { value: true, enumerable: false, configurable: true });
  }
  return error;
}

/**
 * True when `error` (or anything in its cause chain) says the database could not be reached or
 * the connection was lost: a retry once it is back may succeed. Constraint violations, syntax
 * errors, statement timeouts on a live connection and the like are not unavailability.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let current = error, depth = 0; current !== null && typeof current === "object" && depth < 8; depth += 1) {
    if ((current as { [UNAVAILABLE]?: unknown })[UNAVAILABLE] === true) return true;
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && (NETWORK_CODES.has(code) || SERVER_UNAVAILABLE_SQLSTATES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) {
      return true;
    }
    // AggregateError (a connect that tried several addresses) carries the real causes in `errors`.
    const errors = (current as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.some((inner) => isDatabaseUnavailable(inner))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

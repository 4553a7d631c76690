/**
 * Structured JSON logging. Values are passed through `redact` so a token-shaped string or a
 * secret-named field can never reach a log line, even by mistake.
 */
type Level = "debug" | "info" | "warn" | "error";

const SECRET_FIELD = /(secret|password|token|key(?!Id|_id|Source|ExpiresAt)|pepper|authorization|cookie)/i;
const JWT_SHAPE = /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}/g;

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6) return "[depth]";
  if (typeof value === "string") return value.replace(JWT_SHAPE, "[redacted-jwt]");
  if (value instanceof Error) {
    // Query errors (drizzle's DrizzleQueryError) spell out the statement's parameters, which can
    // include key ciphertext or a pepper: keep the statement and the SQLSTATE, drop the values.
    const message = value.message.replace(/\nparams:[\s\S]*$/, "\nparams: [redacted]");
    const cause = value.cause instanceof Error ? value.cause : undefined;
    return {
      name: value.name,
      message: redact(message, depth + 1),
      code: (value as { code?: unknown }).code ?? (cause as { code?: unknown } | undefined)?.code,
    };
  }
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([field, inner]) => [
        field,
        SECRET_FIELD.test(field) ? "[redacted]" : redact(inner, depth + 1),
      ]),
    );
  }
  return value;
}

function write(level: Level, message: string, fields?: Record<string, unknown>): void {
  if (process.env.FLEETDECK_LOG_LEVEL === "silent") return;
  const line = JSON.stringify({ level, time: new Date().toISOString(), message: redact(message), ...(redact(fields ?? {}) as object) });
  if (level === "error" || level === "warn") console.error(line);
  else console.log(line);
}

export const logger = {
  debug: (message: string, fields?: Record<string, unknown>) => {
    if (process.env.FLEETDECK_LOG_LEVEL === "debug") write("debug", message, fields);
  },
  info: (message: string, fields?: Record<string, unknown>) => write("info", message, fields),
  warn: (message: string, fields?: Record<string, unknown>) => write("warn", message, fields),
  error: (message: string, fields?: Record<string, unknown>) => write("error", message, fields),
};

// The gateway's configuration from its environment, and its log line format (see gateway.mjs).

/** @param {'info'|'warn'|'error'} level @param {string} message @param {Record<string, unknown>} [fields] */
export function log(level, message, fields = {}) {
  const line = JSON.stringify({ level, time: new Date().toISOString(), component: "gateway", message, ...fields });
  if (level === "info") process.stdout.write(line + "\n");
  else process.stderr.write(line + "\n");
}

/** @param {string|undefined} value @param {number} fallback */
function positiveInt(value, fallback) {
  if (value === undefined || value.trim() === "") return fallback;
  const parsed = Number(value);
  return Number.isInteger(parsed) && parsed > 0 ? parsed : NaN;
}

/** The gateway's settings; `problems` lists every variable that is wrong, empty when all are fine. */
export function readConfig(env) {
  const problems = [];
  let whoamiUrl;
  try {
    whoamiUrl = new URL(env.FLEETDECK_WHOAMI_URL ?? "");
    if (whoamiUrl.protocol !== "http:" && whoamiUrl.protocol !== "https:") throw new Error("protocol");
  } catch {
    problems.push("FLEETDECK_WHOAMI_URL must be an absolute http(s) URL");
  }
  const gatewayToken = env.GATEWAY_TOKEN ?? "";
  if (gatewayToken.length < 16) problems.push("GATEWAY_TOKEN must be set (at least 16 characters)");
  const port = env.PORT === undefined || env.PORT === "" ? 8080 : Number(env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) problems.push("PORT must be an integer 0-65535");
  const checkIntervalMs = positiveInt(env.KEY_CHECK_INTERVAL_MS, 60_000);
  if (Number.isNaN(checkIntervalMs)) problems.push("KEY_CHECK_INTERVAL_MS must be a positive integer");
  const whoamiTimeoutMs = positiveInt(env.WHOAMI_TIMEOUT_MS, 5_000);
  if (Number.isNaN(whoamiTimeoutMs)) problems.push("WHOAMI_TIMEOUT_MS must be a positive integer");
  return {
    problems,
    whoamiUrl: /** @type {URL} */ (whoamiUrl),
    gatewayToken,
    port,
    host: env.HOST || "::",
    instanceId: env.INSTANCE_ID || null,
    checkIntervalMs,
    whoamiTimeoutMs,
    initialKey: env.KILOCODE_API_KEY || "",
  };
}

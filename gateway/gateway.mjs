#!/usr/bin/env node
// The Fleetdeck instance gateway: the program every instance runs (a Fly machine's image, or a child
// process of the local provider). Plain Node ESM with zero dependencies so it runs with
// `node gateway/gateway.mjs` and no build step.
//
// It holds one credential (KILOCODE_API_KEY), proves it against the control plane's
// `GET /api/gateway/whoami` at boot and periodically, reports what it learnt on `GET /health`, and
// accepts a fresh key on `POST /env/patch` — applied only once the control plane has accepted it.
//
// Environment:
//   KILOCODE_API_KEY       the instance's key (a missing key is reported as `invalid`; /env/patch can fix it)
//   FLEETDECK_WHOAMI_URL   full URL of the control plane's whoami endpoint (required)
//   GATEWAY_TOKEN          bearer token authorising /env/patch (required)
//   PORT                   listen port (default 8080; 0 picks a free one)
//   HOST                   listen address (default "::", all interfaces; the local provider passes 127.0.0.1)
//   INSTANCE_ID            when set, a key minted for another instance is reported `invalid`
//   KEY_CHECK_INTERVAL_MS  re-check period (default 60000); retried sooner while unreachable (after
//                          whoami's Retry-After, else 5 s)
//   WHOAMI_TIMEOUT_MS      per-check timeout (default 5000)
//
// The key never appears in a log line or a response: logs carry the credential state and key id only.

import http from "node:http";
import { createHash } from "node:crypto";
import { log, readConfig } from "./config.mjs";
import { bearerMatches, MAX_BODY_BYTES, parseRetryAfter, readBody, sendError, sendJson } from "./http.mjs";

const EXIT_MISCONFIGURED = 2;
const EXIT_LISTEN_FAILED = 3;
const MAX_KEY_LENGTH = 8 * 1024;
const UNREACHABLE_RETRY_MS = 5_000;
const SHUTDOWN_GRACE_MS = 5_000;

/** @typedef {'valid'|'expired'|'revoked'|'invalid'|'unreachable'|'checking'} CredentialState */
/**
 * @typedef {object} Credential
 * @property {CredentialState} state
 * @property {string|null} keyId
 * @property {string|null} expiresAt
 * @property {string|null} checkedAt
 * @property {string|null} instanceId
 * @property {string|null} message   why the state is not `valid` (never contains the key)
 */

const config = readConfig(process.env);
if (config.problems.length > 0) {
  log("error", "gateway misconfigured", { problems: config.problems });
  process.exit(EXIT_MISCONFIGURED);
}

// The key lives only in this closure variable; it is deliberately absent from every logged object.
let currentKey = config.initialKey;
/** @type {Credential} */
let credential = {
  state: currentKey ? "checking" : "invalid",
  keyId: null,
  expiresAt: null,
  checkedAt: null,
  instanceId: config.instanceId,
  message: currentKey ? null : "KILOCODE_API_KEY is not set",
};

/** The control plane's last Retry-After, when its answer said nothing about the key. @type {number|undefined} */
let retryAfterMs;

/** @param {unknown} value */
const isNonEmptyString = (value) => typeof value === "string" && value.length > 0;

/**
 * Asks the control plane whether `key` authenticates. Never throws: every failure becomes a state.
 * @param {string} key
 * @returns {Promise<Credential>}
 */
async function verifyKey(key) {
  const checkedAt = new Date().toISOString();
  retryAfterMs = undefined;
  /** @param {CredentialState} state @param {string|null} message @param {Partial<Credential>} [extra] @returns {Credential} */
  const result = (state, message, extra = {}) => ({
    state,
    keyId: null,
    expiresAt: null,
    checkedAt,
    instanceId: config.instanceId,
    message,
    ...extra,
  });
  if (!key) return result("invalid", "no key");

  let response;
  try {
    response = await fetch(config.whoamiUrl, {
      headers: { authorization: `Bearer ${key}`, accept: "application/json" },
      signal: AbortSignal.timeout(config.whoamiTimeoutMs),
      redirect: "error",
    });
  } catch (error) {
    const cause = error && typeof error === "object" && "cause" in error ? error.cause : undefined;
    const code = cause && typeof cause === "object" && "code" in cause ? String(cause.code) : undefined;
    const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
    return result("unreachable", timedOut ? "whoami timed out" : `whoami unreachable${code ? ` (${code})` : ""}`);
  }

  let body;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }

  if (response.status === 200) {
    if (!body || !isNonEmptyString(body.keyId) || !isNonEmptyString(body.expiresAt) || !isNonEmptyString(body.instanceId)) {
      return result("unreachable", "whoami answered 200 with an unexpected body");
    }
    const expiry = Date.parse(body.expiresAt);
    if (Number.isNaN(expiry)) return result("unreachable", "whoami answered an unparsable expiresAt");
    const extra = { keyId: body.keyId, expiresAt: new Date(expiry).toISOString(), instanceId: body.instanceId };
    // A key for another instance authenticates, but this gateway must not run on it.
    if (config.instanceId && body.instanceId !== config.instanceId) {
      return result("invalid", `key belongs to instance ${body.instanceId}`, { ...extra, instanceId: config.instanceId });
    }
    if (expiry <= Date.now()) return result("expired", "key expiry is in the past", extra);
    return result("valid", null, extra);
  }

  if (response.status === 401 || response.status === 403) {
    const code = body && body.error && typeof body.error.code === "string" ? body.error.code : "unknown";
    if (code === "token_expired") return result("expired", "whoami: token_expired");
    if (code === "token_revoked") return result("revoked", "whoami: token_revoked");
    return result("invalid", `whoami: ${code === "token_invalid" ? "token_invalid" : `rejected (${response.status})`}`);
  }
  // 5xx, 429, 404 (wrong URL) and anything else say nothing about the key itself. The control
  // plane says when to ask again (a database outage answers 503 with Retry-After: 2).
  retryAfterMs = parseRetryAfter(response.headers.get("retry-after"));
  return result("unreachable", `whoami answered ${response.status}`);
}


/** @param {Credential} next */
function recordCredential(next) {
  const previous = credential;
  credential = next;
  if (previous.state !== next.state || previous.keyId !== next.keyId) {
    log(next.state === "valid" ? "info" : "warn", "credential state", {
      state: next.state,
      previousState: previous.state,
      keyId: next.keyId,
      expiresAt: next.expiresAt,
      reason: next.message,
    });
  }
}

// Key checks and key swaps run one at a time, so a slow periodic check of the old key can never
// overwrite the state of a key that was swapped in meanwhile.
let queue = Promise.resolve();
/** @template T @param {() => Promise<T>} task @returns {Promise<T>} */
function serialized(task) {
  const run = queue.then(task, task);
  queue = run.then(
    () => undefined,
    () => undefined,
  );
  return run;
}

/** @type {NodeJS.Timeout | undefined} */
let checkTimer;
let shuttingDown = false;

function scheduleCheck() {
  if (shuttingDown) return;
  clearTimeout(checkTimer);
  const delay =
    credential.state === "unreachable" ? Math.min(config.checkIntervalMs, retryAfterMs ?? UNREACHABLE_RETRY_MS) : config.checkIntervalMs;
  checkTimer = setTimeout(() => {
    void checkCurrentKey().finally(scheduleCheck);
  }, delay);
}

function checkCurrentKey() {
  return serialized(async () => {
    const key = currentKey;
    if (!key) return;
    const next = await verifyKey(key);
    if (key === currentKey && !shuttingDown) recordCredential(next);
  });
}

/** @param {string} candidate @returns {Promise<{ applied: boolean, credential: Credential }>} */
function patchKey(candidate) {
  return serialized(async () => {
    const verified = await verifyKey(candidate);
    if (verified.state !== "valid") {
      log("warn", "key patch rejected", { state: verified.state, keyId: verified.keyId, reason: verified.message });
      return { applied: false, credential: verified };
    }
    currentKey = candidate;
    recordCredential(verified);
    log("info", "key patch applied", { keyId: verified.keyId, expiresAt: verified.expiresAt });
    scheduleCheck();
    return { applied: true, credential: verified };
  });
}

const tokenDigest = createHash("sha256").update(config.gatewayToken).digest();


/** @param {http.IncomingMessage} req @param {http.ServerResponse} res */
async function handlePatch(req, res) {
  if (!bearerMatches(req.headers.authorization, tokenDigest)) return sendError(res, 401, "unauthorized", "invalid gateway token");
  const contentType = req.headers["content-type"] ?? "";
  if (!contentType.toLowerCase().startsWith("application/json")) {
    return sendError(res, 415, "unsupported_media_type", "expected application/json");
  }
  const raw = await readBody(req);
  if (raw === null) return sendError(res, 413, "payload_too_large", `body exceeds ${MAX_BODY_BYTES} bytes`);
  let body;
  try {
    body = JSON.parse(raw);
  } catch {
    return sendError(res, 400, "bad_request", "body is not valid JSON");
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) {
    return sendError(res, 422, "validation_failed", "body must be an object");
  }
  const unknown = Object.keys(body).filter((field) => field !== "KILOCODE_API_KEY");
  if (unknown.length > 0) {
    return sendError(res, 422, "validation_failed", `only KILOCODE_API_KEY can be patched (got ${unknown.join(", ")})`);
  }
  const key = body.KILOCODE_API_KEY;
  if (typeof key !== "string" || key.length === 0 || key.length > MAX_KEY_LENGTH || /\s/.test(key)) {
    return sendError(res, 422, "validation_failed", "KILOCODE_API_KEY must be a non-empty string without whitespace");
  }
  const outcome = await patchKey(key);
  sendJson(res, 200, outcome);
}

const server = http.createServer((req, res) => {
  const path = (req.url ?? "/").split("?")[0];
  const route = `${req.method} ${path}`;
  const done = (/** @type {unknown} */ error) => {
    log("error", "request failed", { route, error: error instanceof Error ? error.message : String(error) });
    if (!res.headersSent) sendError(res, 500, "internal_error", "internal error");
    else res.destroy();
  };
  try {
    if (route === "GET /health") return sendJson(res, 200, { status: "ok", credential });
    if (route === "POST /env/patch") return void handlePatch(req, res).catch(done);
    if (path === "/health" || path === "/env/patch") return sendError(res, 405, "method_not_allowed", "method not allowed");
    return sendError(res, 404, "not_found", "not found");
  } catch (error) {
    done(error);
  }
});
server.keepAliveTimeout = 5_000;
server.headersTimeout = 10_000;
server.requestTimeout = 30_000;

/** @param {string} reason */
function shutdown(reason) {
  if (shuttingDown) return;
  shuttingDown = true;
  clearTimeout(checkTimer);
  log("info", "gateway shutting down", { reason });
  const force = setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS);
  force.unref();
  server.close(() => process.exit(0));
  server.closeIdleConnections();
}

process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
// Spawned by the local provider with an IPC channel: when the control plane dies (however it dies),
// the channel closes and the machine goes with it instead of lingering as an orphan.
if (process.send) process.on("disconnect", () => shutdown("parent disconnected"));

server.on("error", (error) => {
  const code = /** @type {NodeJS.ErrnoException} */ (error).code;
  if (code === "EAFNOSUPPORT" && config.host === "::") {
    // No IPv6 on this host: fall back to all IPv4 interfaces.
    config.host = "0.0.0.0";
    server.listen(config.port, config.host);
    return;
  }
  log("error", "gateway cannot listen", { host: config.host, port: config.port, code });
  if (process.send) process.send({ type: "listen_error", code: code ?? "unknown" });
  process.exitCode = EXIT_LISTEN_FAILED;
  setImmediate(() => process.exit(EXIT_LISTEN_FAILED));
});

server.listen(config.port, config.host, () => {
  const address = server.address();
  const port = address && typeof address === "object" ? address.port : config.port;
  log("info", "gateway listening", { host: config.host, port, instanceId: config.instanceId });
  if (process.send) process.send({ type: "listening", port });
  // The first check runs right away; /health says `checking` until it completes.
  void checkCurrentKey().finally(scheduleCheck);
});

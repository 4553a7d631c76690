// The gateway's small HTTP helpers: JSON answers in the control plane's error shape, bounded bodies.

import { createHash, timingSafeEqual } from "node:crypto";

export const MAX_BODY_BYTES = 16 * 1024;
const MIN_RETRY_MS = 250;

/** @param {import("node:http").ServerResponse} res @param {number} status @param {unknown} body */
export function sendJson(res, status, body) {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(payload),
    "cache-control": "no-store",
  });
  res.end(payload);
}

/** @param {import("node:http").ServerResponse} res @param {number} status @param {string} code @param {string} message */
export const sendError = (res, status, code, message) => sendJson(res, status, { error: { code, message } });

/** @param {import("node:http").IncomingMessage} req @returns {Promise<string | null>} null when the body is too large */
export function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on("end", () => resolve(tooLarge ? null : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/**
 * Whether `header` is `Bearer <token>` for the token whose SHA-256 is `tokenDigest`. Constant-time:
 * both sides are equal-length digests when compared.
 * @param {string|undefined} header @param {Buffer} tokenDigest
 */
export function bearerMatches(header, tokenDigest) {
  if (typeof header !== "string" || !header.startsWith("Bearer ")) return false;
  const presented = createHash("sha256").update(header.slice("Bearer ".length)).digest();
  return timingSafeEqual(presented, tokenDigest);
}

/** How long a `Retry-After` (seconds or an HTTP date) asks us to wait, or undefined without a usable one. @param {string|null} value */
export function parseRetryAfter(value) {
  if (!value) return undefined;
  const seconds = /^\d+$/.test(value.trim()) ? Number(value) * 1000 : Date.parse(value) - Date.now();
  return Number.isFinite(seconds) ? Math.max(MIN_RETRY_MS, seconds) : undefined;
}

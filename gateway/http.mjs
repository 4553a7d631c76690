// The gateway's small HTTP helpers: JSON answers in the control plane's error shape, bounded bodies.

export const MAX_BODY_BYTES = 16 * 1024;

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

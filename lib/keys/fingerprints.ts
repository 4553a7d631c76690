import { createHash } from "node:crypto";

/** The full SHA-256 of a key, hex. Also the verified-key cache's index, so no cache holds the key itself. */
export function keyDigest(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * The short id that stands for a key in the UI, logs and events: `key_` + 12 hex characters of its
 * SHA-256. One-way and 48 bits long, so it identifies a key without helping anyone forge or find it.
 */
export function keyIdOf(token: string): string {
  return keyIdFromDigest(keyDigest(token));
}

export function keyIdFromDigest(digest: string): string {
  return `key_${digest.slice(0, 12)}`;
}

/**
 * A short, one-way fingerprint of a pepper, stored with each minted key so "minted under a pepper
 * that is no longer current" can be shown without ever storing or displaying the pepper.
 */
export function pepperFingerprint(pepper: string): string {
  return `pf_${createHash("sha256").update(`fleetdeck-pepper:${pepper}`).digest("hex").slice(0, 12)}`;
}

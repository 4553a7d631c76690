import { createHash } from "node:crypto";

/**
 * The secrets API keys (and sessions) are checked against: `current` (NEXTAUTH_SECRET) signs and
 * verifies; each of `previous` (NEXTAUTH_SECRET_PREVIOUS) only verifies — the secret being retired,
 * or, while a rotation rolls across replicas, the incoming one.
 */
export interface KeyRing {
  current: string;
  previous: readonly string[];
}

/** Where a key's signing secret stands in the ring. `retired`: in no configured secret. */
export type SigningKeyStatus = "current" | "previous" | "retired";

/** The `kid`s of a ring: what key health and the scheduler compare stored keys' `kid`s with. */
export interface SigningKeyIds {
  current: string;
  previous: readonly string[];
}

/**
 * The `kid` a key signed with `secret` carries: `sk_` + 16 hex characters of a domain-separated
 * SHA-256. One-way, and the secrets are at least 32 random characters, so it reveals nothing
 * about the secret; it only lets verifiers pick the right one and operators see which signed a key.
 */
export function signingKeyIdOf(secret: string): string {
  let kid = keyIds.get(secret);
  if (!kid) {
    kid = `sk_${createHash("sha256").update(`fleetdeck-signing-key:${secret}`).digest("hex").slice(0, 16)}`;
    // A process holds a handful of secrets; the bound only guards against a caller passing many.
    if (keyIds.size > 32) keyIds.clear();
    keyIds.set(secret, kid);
  }
  return kid;
}

const keyIds = new Map<string, string>();

export function keyRingIds(ring: KeyRing): SigningKeyIds {
  return { current: signingKeyIdOf(ring.current), previous: ring.previous.map(signingKeyIdOf) };
}

/**
 * Where the key signed under `kid` stands. A key with no recorded `kid` (minted before keys carried
 * one) cannot be judged by its signer and counts as current (the scheduler re-keys it anyway:
 * only a recorded current `kid` is up to date); so does every key when no ring is configured (`ids` null).
 */
export function signingKeyStatus(ids: SigningKeyIds | null, kid: string | null): SigningKeyStatus {
  if (ids === null || kid === null || kid === ids.current) return "current";
  return ids.previous.includes(kid) ? "previous" : "retired";
}

/** The secret for `kid`, or undefined when the ring holds none with that id. */
export function secretForKeyId(ring: KeyRing, kid: string): string | undefined {
  if (signingKeyIdOf(ring.current) === kid) return ring.current;
  return ring.previous.find((secret) => signingKeyIdOf(secret) === kid);
}

/** A stable identity for caches of verification results: changes whenever any secret does. */
export function keyRingFingerprint(ring: KeyRing): string {
  return [ring.current, ...ring.previous].map(signingKeyIdOf).join(",");
}

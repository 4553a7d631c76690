import { timingSafeEqual } from "node:crypto";
import { AppError } from "@/lib/errors";
import { keyRingFingerprint, type KeyRing } from "@/lib/tokens/key-ring";
import { verifyKiloToken, type KiloTokenFailure } from "@/lib/tokens/kilo-token";
import { keyDigest, keyIdFromDigest } from "./fingerprints";
import type { InstanceKeyState, KeyStateCache, VerifiedKey } from "./key-state-cache";

export interface InstanceIdentity {
  userId: string;
  instanceId: string;
  keyId: string;
  expiresAt: Date;
}

export interface AuthenticateInstanceKeyDeps {
  /** NEXTAUTH_SECRET and NEXTAUTH_SECRET_PREVIOUS: a key under any secret in the ring authenticates. */
  keyRing: KeyRing;
  /** KILO_TOKEN_ENV: when set, keys minted for another environment are invalid. */
  env?: string;
  cache: KeyStateCache;
  now?: () => Date;
}

// `iat` is in whole seconds and a key is stored a moment after it is minted: an instance state read
// less than this long after a key's `iat` may predate that key.
const NEW_KEY_WINDOW_MS = 10_000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Proves who an instance is from its API key, for `GET /api/gateway/whoami`. Checks, in order:
 * signature (HS256, under the key ring's secret named by `kid`), expiry, version, claims and env
 * (once per key, then remembered by the key's hash); then on every call expiry again, that the
 * pepper in the key is still its owner's current pepper, that the instance exists, belongs to
 * that owner and is not destroyed, and that the key is one of the instance's current keys (its
 * `jti` is the latest minted or the deployed key's): a key superseded by a redeploy or a refresh
 * is refused as soon as the change reaches this replica's cache (NOTIFY, within milliseconds).
 *
 * Throws `token_expired`, `token_revoked` (pepper rotated, owner deleted, instance destroyed or
 * gone, key superseded) or `token_invalid` (anything else). Read-only and safe under any concurrency; on a warm
 * cache it does no I/O. No message it produces contains the key or any claim but the key id.
 */
export async function authenticateInstanceKey(token: string, deps: AuthenticateInstanceKeyDeps): Promise<InstanceIdentity> {
  const now = deps.now?.() ?? new Date();
  const digest = keyDigest(token);
  const ring = keyRingFingerprint(deps.keyRing);
  let key = deps.cache.verifiedKey(digest, ring, deps.env);
  if (!key) {
    key = await verifyOnce(token, digest, deps, now);
    deps.cache.rememberVerifiedKey(digest, ring, deps.env, key);
  }
  if (now.getTime() >= key.expiresAtMs) {
    deps.cache.forgetVerifiedKey(digest);
    throw new AppError("token_expired", `The API key ${key.keyId} expired at ${new Date(key.expiresAtMs).toISOString()}.`);
  }

  const [pepper, cached] = await Promise.all([
    deps.cache.currentPepper(key.userId),
    deps.cache.instanceState(key.instanceId),
  ]);
  // A key minted after the cached state was read may be the instance's new key (its NOTIFY still
  // on the way): read the row again before calling it superseded. A superseded key is older than
  // the state that superseded it, so past its first seconds it never causes a read.
  const instance =
    cached && !isCurrentKey(key, cached)
      ? await deps.cache.instanceState(key.instanceId, { loadedSince: key.issuedAtMs + NEW_KEY_WINDOW_MS })
      : cached;
  if (pepper === null) {
    throw new AppError("token_revoked", `The API key ${key.keyId} was revoked: its owner no longer exists.`);
  }
  if (!samePepper(key.pepper, pepper)) {
    throw new AppError("token_revoked", `The API key ${key.keyId} was revoked: the owner rotated their API key pepper after it was minted.`);
  }
  if (!instance || instance.destroyed) {
    throw new AppError("token_revoked", `The API key ${key.keyId} was revoked: its instance has been destroyed.`);
  }
  if (instance.ownerId !== key.userId) {
    throw new AppError("token_invalid", "The API key does not belong to its instance's owner.");
  }
  if (!isCurrentKey(key, instance)) {
    throw new AppError(
      "token_revoked",
      `The API key ${key.keyId} was revoked: it was superseded by a newer key of its instance (after a redeploy or a key refresh).`,
    );
  }
  return { userId: key.userId, instanceId: key.instanceId, keyId: key.keyId, expiresAt: new Date(key.expiresAtMs) };
}

async function verifyOnce(token: string, digest: string, deps: AuthenticateInstanceKeyDeps, now: Date): Promise<VerifiedKey> {
  const result = await verifyKiloToken(token, deps.keyRing, { env: deps.env, now });
  if (!result.ok) throw new AppError(failureCode(result.reason), result.message);
  const { kiloUserId, instanceId, apiTokenPepper, exp, jti } = result.payload;
  // Ids go into SQL on a cache miss: refuse anything that is not a uuid rather than let Postgres fail.
  if (!UUID.test(kiloUserId)) throw new AppError("token_invalid", "The API key does not name a valid user.");
  if (!instanceId) throw new AppError("token_invalid", "The API key is not an instance key.");
  if (!UUID.test(instanceId)) throw new AppError("token_invalid", "The API key does not name a valid instance.");
  return {
    userId: kiloUserId,
    instanceId,
    keyId: keyIdFromDigest(digest),
    jti: jti ?? null,
    pepper: apiTokenPepper,
    issuedAtMs: result.payload.iat * 1000,
    expiresAtMs: exp * 1000,
  };
}

/**
 * The key is the instance's latest minted or deployed key: by `jti` (so the same payload re-signed
 * by another HS256 implementation still counts), or by key id for keys recorded before jtis were.
 */
function isCurrentKey(key: VerifiedKey, instance: InstanceKeyState): boolean {
  return (key.jti !== null && instance.currentJtis.includes(key.jti)) || instance.currentKeyIds.includes(key.keyId);
}

function failureCode(reason: KiloTokenFailure): "token_expired" | "token_invalid" {
  return reason === "expired" ? "token_expired" : "token_invalid";
}

function samePepper(claimed: string | null, current: string): boolean {
  if (claimed === null) return false;
  const a = Buffer.from(claimed);
  const b = Buffer.from(current);
  return a.length === b.length && timingSafeEqual(a, b);
}

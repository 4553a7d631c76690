import { timingSafeEqual } from "node:crypto";
import { AppError } from "@/lib/errors";
import { verifyKiloToken, type KiloTokenFailure } from "@/lib/tokens/kilo-token";
import { keyDigest, keyIdFromDigest } from "./fingerprints";
import type { KeyStateCache, VerifiedKey } from "./key-state-cache";

export interface InstanceIdentity {
  userId: string;
  instanceId: string;
  keyId: string;
  expiresAt: Date;
}

export interface AuthenticateInstanceKeyDeps {
  /** NEXTAUTH_SECRET. */
  secret: string;
  /** KILO_TOKEN_ENV: when set, keys minted for another environment are invalid. */
  env?: string;
  cache: KeyStateCache;
  now?: () => Date;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Proves who an instance is from its API key, for `GET /api/gateway/whoami`. Checks, in order:
 * signature (HS256), expiry, version, claims and env (once per key, then remembered by the key's
 * hash); then on every call expiry again, that the pepper in the key is still its owner's current
 * pepper, and that the instance exists, belongs to that owner and is not destroyed.
 *
 * Throws `token_expired`, `token_revoked` (pepper rotated, owner deleted, instance destroyed or
 * gone) or `token_invalid` (anything else). Read-only and safe under any concurrency; on a warm
 * cache it does no I/O. No message it produces contains the key or any claim but the key id.
 */
export async function authenticateInstanceKey(token: string, deps: AuthenticateInstanceKeyDeps): Promise<InstanceIdentity> {
  const now = deps.now?.() ?? new Date();
  const digest = keyDigest(token);
  let key = deps.cache.verifiedKey(digest, deps.secret, deps.env);
  if (!key) {
    key = await verifyOnce(token, digest, deps, now);
    deps.cache.rememberVerifiedKey(digest, deps.secret, deps.env, key);
  }
  if (now.getTime() >= key.expiresAtMs) {
    deps.cache.forgetVerifiedKey(digest);
    throw new AppError("token_expired", `The API key ${key.keyId} expired at ${new Date(key.expiresAtMs).toISOString()}.`);
  }

  const [pepper, instance] = await Promise.all([
    deps.cache.currentPepper(key.userId),
    deps.cache.instanceState(key.instanceId),
  ]);
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
  return { userId: key.userId, instanceId: key.instanceId, keyId: key.keyId, expiresAt: new Date(key.expiresAtMs) };
}

async function verifyOnce(token: string, digest: string, deps: AuthenticateInstanceKeyDeps, now: Date): Promise<VerifiedKey> {
  const result = await verifyKiloToken(token, deps.secret, { env: deps.env, now });
  if (!result.ok) throw new AppError(failureCode(result.reason), result.message);
  const { kiloUserId, instanceId, apiTokenPepper, exp } = result.payload;
  // Ids go into SQL on a cache miss: refuse anything that is not a uuid rather than let Postgres fail.
  if (!UUID.test(kiloUserId)) throw new AppError("token_invalid", "The API key does not name a valid user.");
  if (!instanceId) throw new AppError("token_invalid", "The API key is not an instance key.");
  if (!UUID.test(instanceId)) throw new AppError("token_invalid", "The API key does not name a valid instance.");
  return { userId: kiloUserId, instanceId, keyId: keyIdFromDigest(digest), pepper: apiTokenPepper, expiresAtMs: exp * 1000 };
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

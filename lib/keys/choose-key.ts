import { AppError, isAppError } from "@/lib/errors";
import type { KeyRing } from "@/lib/tokens/key-ring";
import { verifyKiloToken, type KiloTokenFailure } from "@/lib/tokens/kilo-token";
import { decryptApiKey } from "./encryption";
import { keyIdOf } from "./fingerprints";
import type { MintedApiKey } from "./mint";

/** What the mint attempt produced: catch mintApiKey's error and pass it here. */
export type MintOutcome = { ok: true; key: MintedApiKey } | { ok: false; error: unknown };

/**
 * The latest stored key as the instance row holds it. An InstanceRow fits as is; the expiry is
 * typed loosely because a row read as text or JSON must be judged, not trusted.
 */
export interface StoredKey {
  id: string;
  encryptedKey: string | null;
  keyExpiresAt: Date | string | null | undefined;
  keyRevokedAt: Date | string | null | undefined;
}

export type KeyToDeploy =
  | { source: "minted"; token: string; keyId: string; jti: string; signingKid: string; expiresAt: Date; pepperFingerprint: string }
  | { source: "fallback"; token: string; keyId: string; jti: string | null; signingKid: string; expiresAt: Date };

/** Which fallback condition failed; also in the error's details for the audit log. */
export type FallbackRefusal =
  | "no_stored_key"
  | "expiry_missing"
  | "expiry_unparsable"
  | "revoked"
  | "expired"
  | "undecryptable"
  | "signature_invalid"
  | "env_mismatch"
  | "wrong_version"
  | "malformed"
  | "token_expired"
  | "expiry_mismatch"
  | "instance_mismatch"
  | "expiring";

export interface ChooseKeyInput {
  mint: MintOutcome;
  stored: StoredKey | null;
  now: Date;
  encryptionKey: Buffer;
  /** The secrets a stored key may be signed under: the current one, or one still in the ring. */
  keyRing: KeyRing;
  /** KILO_TOKEN_ENV: a stored key minted for another environment is dead here. */
  tokenEnv?: string;
  /** FALLBACK_MIN_REMAINING_MINUTES: a key that dies while the machine boots is as good as dead. */
  minRemainingMs: number;
}

// The row's expiry is written from the token's own `exp` (whole seconds); anything further apart
// means the row and the key disagree, and the row cannot be trusted to describe it.
const EXPIRY_AGREEMENT_MS = 1_000;

/**
 * Decides which key an instance boots with. A fresh mint always wins. Otherwise the stored key is
 * reused only when it is provably alive without the database:
 * - the row: an expiry recorded, parsable and in the future, and no revocation since it was minted
 *   (a pepper rotation sets keyRevokedAt in its own transaction, so this needs the instance row
 *   alone, never the users table that may be what failed);
 * - the key itself, once decrypted: it verifies under the current key ring (a secret no longer in
 *   the ring is `signature_invalid`), KILO_TOKEN_ENV and KILO_TOKEN_VERSION; its own `exp` is in the
 *   future and agrees with the row; its `instanceId` is this instance;
 * - it has at least `minRemainingMs` of life left.
 * Anything else throws `key_unavailable` naming the failed condition, so callers fail before
 * touching the machine.
 *
 * Pure: no I/O, no clock (decryption and verification are deterministic given `now`), so it is
 * safe to call anywhere, any number of times. The error message and details never contain key
 * material.
 */
export async function chooseKeyToDeploy(input: ChooseKeyInput): Promise<KeyToDeploy> {
  const { mint, stored, now } = input;
  if (mint.ok) {
    const { token, keyId, jti, signingKid, expiresAt, pepperFingerprint } = mint.key;
    return { source: "minted", token, keyId, jti, signingKid, expiresAt, pepperFingerprint };
  }
  const mintFailure = describeMintFailure(mint.error);
  const refuse = (reason: FallbackRefusal, why: string, action: string): never => {
    throw new AppError(
      "key_unavailable",
      `No fresh API key could be minted (${mintFailure.message}) and the stored key cannot be used: ${why}. ${action}`,
      { reason, mintError: mintFailure.code },
    );
  };
  const retry = "Retry once minting works again (check that the database is reachable).";

  if (!stored?.encryptedKey) return refuse("no_stored_key", "this instance has no stored key", retry);
  if (stored.keyExpiresAt === null || stored.keyExpiresAt === undefined || stored.keyExpiresAt === "") {
    return refuse("expiry_missing", "its expiry was never recorded, so it may already be dead", retry);
  }
  const expiresAt = parseTimestamp(stored.keyExpiresAt);
  if (!expiresAt) {
    return refuse("expiry_unparsable", `its recorded expiry (${preview(stored.keyExpiresAt)}) is not a valid timestamp`, retry);
  }
  if (stored.keyRevokedAt !== null && stored.keyRevokedAt !== undefined) {
    const when = parseTimestamp(stored.keyRevokedAt)?.toISOString() ?? "an unknown time";
    return refuse("revoked", `it was revoked by a pepper rotation at ${when}`, `${retry} Every key minted before the rotation is dead.`);
  }
  if (expiresAt.getTime() <= now.getTime()) {
    return refuse("expired", `it expired at ${expiresAt.toISOString()}`, retry);
  }
  let token: string;
  try {
    token = decryptApiKey(stored.encryptedKey, { encryptionKey: input.encryptionKey, instanceId: stored.id });
  } catch {
    return refuse(
      "undecryptable",
      "it cannot be decrypted (KEY_ENCRYPTION_KEY changed or the stored value is corrupted)",
      `${retry} Check KEY_ENCRYPTION_KEY.`,
    );
  }

  const verified = await verifyKiloToken(token, input.keyRing, { env: input.tokenEnv, now });
  if (!verified.ok) {
    const [reason, why] = VERIFY_REFUSALS[verified.reason];
    return refuse(reason, why, retry);
  }
  const { payload } = verified;
  const ownExpiry = new Date(payload.exp * 1000);
  if (Math.abs(ownExpiry.getTime() - expiresAt.getTime()) > EXPIRY_AGREEMENT_MS) {
    return refuse(
      "expiry_mismatch",
      `the key's own expiry (${ownExpiry.toISOString()}) disagrees with the recorded one (${expiresAt.toISOString()})`,
      retry,
    );
  }
  if (payload.instanceId !== stored.id) return refuse("instance_mismatch", "it was minted for another instance", retry);
  const remainingMs = ownExpiry.getTime() - now.getTime();
  if (remainingMs < input.minRemainingMs) {
    return refuse(
      "expiring",
      `it has only ${formatMinutes(remainingMs)} left (at least ${formatMinutes(input.minRemainingMs)} are needed), so it would die while the machine runs`,
      retry,
    );
  }
  return { source: "fallback", token, keyId: keyIdOf(token), jti: payload.jti ?? null, signingKid: verified.kid, expiresAt: ownExpiry };
}

const VERIFY_REFUSALS: Record<KiloTokenFailure, [FallbackRefusal, string]> = {
  bad_signature: ["signature_invalid", "its signature does not verify under any configured signing secret"],
  unknown_signing_key: ["signature_invalid", "it was signed under a secret that is no longer configured (NEXTAUTH_SECRET was rotated)"],
  wrong_algorithm: ["malformed", "it is not an HS256 key"],
  malformed: ["malformed", "it is not a well-formed key"],
  wrong_version: ["wrong_version", "it is a key of an older format"],
  env_mismatch: ["env_mismatch", "it was minted for another environment (KILO_TOKEN_ENV)"],
  expired: ["token_expired", "the key's own expiry has passed, whatever the row says"],
};

function formatMinutes(ms: number): string {
  const minutes = Math.max(0, Math.floor(ms / 60_000));
  return `${minutes} minute${minutes === 1 ? "" : "s"}`;
}

function describeMintFailure(error: unknown): { code: string; message: string } {
  // Only AppError messages are written for users; anything else may carry SQL or driver detail.
  if (isAppError(error)) return { code: error.code, message: error.message.replace(/\.$/, "") };
  return { code: "internal_error", message: "an unexpected error" };
}

function parseTimestamp(value: Date | string): Date | undefined {
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function preview(value: Date | string): string {
  const text = value instanceof Date ? "Invalid Date" : value;
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

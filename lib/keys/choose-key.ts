import { AppError, isAppError } from "@/lib/errors";
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
  | { source: "minted"; token: string; keyId: string; expiresAt: Date; pepperFingerprint: string }
  | { source: "fallback"; token: string; keyId: string; expiresAt: Date };

/** Which fallback condition failed; also in the error's details for the audit log. */
export type FallbackRefusal =
  | "no_stored_key"
  | "expiry_missing"
  | "expiry_unparsable"
  | "revoked"
  | "expired"
  | "undecryptable";

export interface ChooseKeyInput {
  mint: MintOutcome;
  stored: StoredKey | null;
  now: Date;
  encryptionKey: Buffer;
}

/**
 * Decides which key an instance boots with. A fresh mint always wins. Otherwise the stored key is
 * reused only when its expiry is recorded, parsable and still in the future, it has not been
 * revoked (pepper rotation sets keyRevokedAt in its own transaction, so this needs the instance
 * row alone, never the users table that may be what failed), and it decrypts. Anything else throws
 * `key_unavailable` naming the failed condition, so callers fail before touching the machine.
 *
 * Pure: no I/O, no clock (decryption is deterministic), so it is safe to call anywhere, any number
 * of times. The error message and details never contain key material.
 */
export function chooseKeyToDeploy({ mint, stored, now, encryptionKey }: ChooseKeyInput): KeyToDeploy {
  if (mint.ok) {
    const { token, keyId, expiresAt, pepperFingerprint } = mint.key;
    return { source: "minted", token, keyId, expiresAt, pepperFingerprint };
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
    token = decryptApiKey(stored.encryptedKey, { encryptionKey, instanceId: stored.id });
  } catch {
    return refuse(
      "undecryptable",
      "it cannot be decrypted (KEY_ENCRYPTION_KEY changed or the stored value is corrupted)",
      `${retry} Check KEY_ENCRYPTION_KEY.`,
    );
  }
  return { source: "fallback", token, keyId: keyIdOf(token), expiresAt };
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

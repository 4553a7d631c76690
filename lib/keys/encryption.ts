import "server-only";
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { decodeEncryptionKey, getEnv, type Env } from "@/shared/env";
import { AppError } from "@/lib/errors";

/**
 * Keys at rest: AES-256-GCM under KEY_ENCRYPTION_KEY, a fresh 96-bit IV per value, the 128-bit tag
 * checked on read. Format `v1.<iv>.<tag>.<ciphertext>` (base64url), so the scheme can change later
 * without guessing. The instance id is bound in as associated data: a ciphertext copied onto
 * another instance's row does not decrypt.
 */
const FORMAT_VERSION = "v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface KeyEncryptionContext {
  encryptionKey: Buffer;
  instanceId: string;
}

export function encryptApiKey(token: string, { encryptionKey, instanceId }: KeyEncryptionContext): string {
  assertKeyLength(encryptionKey);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", encryptionKey, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData(instanceId));
  const ciphertext = Buffer.concat([cipher.update(token, "utf8"), cipher.final()]);
  return [FORMAT_VERSION, iv, cipher.getAuthTag(), ciphertext]
    .map((part) => (typeof part === "string" ? part : part.toString("base64url")))
    .join(".");
}

/**
 * Decrypts a stored key. Throws `key_unavailable` when the value is not in a known format, was
 * encrypted under another KEY_ENCRYPTION_KEY, belongs to another instance, or was altered.
 */
export function decryptApiKey(stored: string, { encryptionKey, instanceId }: KeyEncryptionContext): string {
  assertKeyLength(encryptionKey);
  const [version, iv, tag, ciphertext, ...rest] = stored.split(".");
  if (version !== FORMAT_VERSION || !iv || !tag || ciphertext === undefined || rest.length > 0) {
    throw unreadable("it is not in a known format");
  }
  try {
    const decipher = createDecipheriv("aes-256-gcm", encryptionKey, Buffer.from(iv, "base64url"), { authTagLength: TAG_BYTES });
    decipher.setAAD(associatedData(instanceId));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, "base64url")), decipher.final()]).toString("utf8");
  } catch {
    throw unreadable("KEY_ENCRYPTION_KEY differs from the one it was stored under, or the value was altered");
  }
}

/** KEY_ENCRYPTION_KEY as bytes; `misconfigured` (503) when it is not set, before any work. */
export function requireEncryptionKey(env: Pick<Env, "KEY_ENCRYPTION_KEY"> = getEnv()): Buffer {
  const key = env.KEY_ENCRYPTION_KEY ? decodeEncryptionKey(env.KEY_ENCRYPTION_KEY) : undefined;
  if (!key) {
    throw new AppError("misconfigured", "Storing keys is disabled: KEY_ENCRYPTION_KEY is not configured (`openssl rand -hex 32`).");
  }
  return key;
}

function associatedData(instanceId: string): Buffer {
  return Buffer.from(`fleetdeck:instance-key:${FORMAT_VERSION}:${instanceId}`, "utf8");
}

function assertKeyLength(key: Buffer): void {
  if (key.length !== 32) throw new AppError("misconfigured", "KEY_ENCRYPTION_KEY must be 32 bytes.");
}

function unreadable(why: string): AppError {
  return new AppError("key_unavailable", `The stored key cannot be decrypted: ${why}.`);
}

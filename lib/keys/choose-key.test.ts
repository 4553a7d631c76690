import { randomBytes, randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AppError } from "@/lib/errors";
import { chooseKeyToDeploy, type MintOutcome, type StoredKey } from "./choose-key";
import { encryptApiKey } from "./encryption";
import { keyIdOf } from "./fingerprints";
import { KeyMintTimeoutError, type MintedApiKey } from "./mint";

const encryptionKey = randomBytes(32);
const now = new Date("2030-06-01T12:00:00Z");
const instanceId = randomUUID();
const storedToken = "eyJhbGciOiJIUzI1NiJ9.eyJzdG9yZWQiOnRydWV9.c3RvcmVk";
const freshToken = "eyJhbGciOiJIUzI1NiJ9.eyJmcmVzaCI6dHJ1ZX0.ZnJlc2g";

const minted: MintedApiKey = {
  token: freshToken,
  keyId: keyIdOf(freshToken),
  userId: randomUUID(),
  instanceId,
  expiresAt: new Date("2030-07-01T12:00:00Z"),
  mintedAt: now,
  pepperFingerprint: "pf_0123456789ab",
};
const timedOut: MintOutcome = { ok: false, error: new KeyMintTimeoutError(5_000) };

function stored(overrides: Partial<StoredKey> = {}): StoredKey {
  return {
    id: instanceId,
    encryptedKey: encryptApiKey(storedToken, { encryptionKey, instanceId }),
    keyExpiresAt: new Date("2030-06-10T00:00:00Z"),
    keyRevokedAt: null,
    ...overrides,
  };
}

function refusal(run: () => unknown): AppError {
  try {
    run();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error("expected key_unavailable");
}

describe("chooseKeyToDeploy", () => {
  it("deploys the fresh key whenever minting worked, whatever is stored", () => {
    for (const row of [null, stored(), stored({ keyRevokedAt: now, keyExpiresAt: null })]) {
      expect(chooseKeyToDeploy({ mint: { ok: true, key: minted }, stored: row, now, encryptionKey })).toEqual({
        source: "minted",
        token: freshToken,
        keyId: minted.keyId,
        expiresAt: minted.expiresAt,
        pepperFingerprint: minted.pepperFingerprint,
      });
    }
  });

  it("falls back to a stored key with a known future expiry that was never revoked", () => {
    expect(chooseKeyToDeploy({ mint: timedOut, stored: stored(), now, encryptionKey })).toEqual({
      source: "fallback",
      token: storedToken,
      keyId: keyIdOf(storedToken),
      expiresAt: new Date("2030-06-10T00:00:00Z"),
    });
  });

  it("accepts an ISO string expiry read as text", () => {
    const choice = chooseKeyToDeploy({ mint: timedOut, stored: stored({ keyExpiresAt: "2030-06-10T00:00:00Z" }), now, encryptionKey });
    expect(choice.source).toBe("fallback");
    expect(choice.expiresAt.toISOString()).toBe("2030-06-10T00:00:00.000Z");
  });

  it.each([
    ["no stored row", null, "no_stored_key", /no stored key/],
    ["a row without a key", stored({ encryptedKey: null }), "no_stored_key", /no stored key/],
    ["a missing expiry (null)", stored({ keyExpiresAt: null }), "expiry_missing", /expiry was never recorded/],
    ["a missing expiry (undefined)", stored({ keyExpiresAt: undefined }), "expiry_missing", /expiry was never recorded/],
    ["an empty expiry", stored({ keyExpiresAt: "" }), "expiry_missing", /expiry was never recorded/],
    ["an unparsable expiry string", stored({ keyExpiresAt: "next tuesday" }), "expiry_unparsable", /"next tuesday"\) is not a valid timestamp/],
    ["an invalid Date", stored({ keyExpiresAt: new Date(Number.NaN) }), "expiry_unparsable", /not a valid timestamp/],
    ["a past expiry", stored({ keyExpiresAt: new Date("2030-05-31T00:00:00Z") }), "expired", /expired at 2030-05-31T00:00:00.000Z/],
    ["an expiry exactly now", stored({ keyExpiresAt: now }), "expired", /expired at/],
    ["a key revoked by a pepper rotation", stored({ keyRevokedAt: new Date("2030-06-01T11:00:00Z") }), "revoked", /revoked by a pepper rotation at 2030-06-01T11:00:00.000Z/],
    ["a rotated key that is also expired", stored({ keyRevokedAt: now, keyExpiresAt: new Date("2030-01-01T00:00:00Z") }), "revoked", /revoked/],
    ["a key from another instance's row", stored({ id: randomUUID() }), "undecryptable", /cannot be decrypted/],
  ])("refuses %s with key_unavailable naming the condition", (_, row, reason, message) => {
    const error = refusal(() => chooseKeyToDeploy({ mint: timedOut, stored: row, now, encryptionKey }));
    expect(error.code).toBe("key_unavailable");
    expect(error.status).toBe(503);
    expect(error.details).toEqual({ reason, mintError: "key_unavailable" });
    expect(error.message).toMatch(message);
    expect(error.message).toMatch(/timed out after 5000 ms/);
    expect(error.message).toMatch(/Retry/);
    expect(error.message).not.toContain(storedToken);
  });

  it("refuses a stored key under another encryption key", () => {
    const error = refusal(() => chooseKeyToDeploy({ mint: timedOut, stored: stored(), now, encryptionKey: randomBytes(32) }));
    expect(error.details).toMatchObject({ reason: "undecryptable" });
    expect(error.message).toMatch(/KEY_ENCRYPTION_KEY/);
  });

  it("does not repeat an unexpected mint error's text (it may hold SQL)", () => {
    const mint: MintOutcome = { ok: false, error: new Error('Failed query: select "api_token_pepper" from "users"') };
    const error = refusal(() => chooseKeyToDeploy({ mint, stored: null, now, encryptionKey }));
    expect(error.message).toMatch(/an unexpected error/);
    expect(error.message).not.toMatch(/api_token_pepper/);
    expect(error.details).toMatchObject({ mintError: "internal_error" });
  });
});

import { randomBytes, randomUUID } from "node:crypto";
import jwt from "jsonwebtoken";
import { describe, expect, it } from "vitest";
import { AppError } from "@/lib/errors";
import { KILO_TOKEN_VERSION, signKiloToken } from "@/lib/tokens/kilo-token";
import { signingKeyIdOf, type KeyRing } from "@/lib/tokens/key-ring";
import { chooseKeyToDeploy, type ChooseKeyInput, type MintOutcome, type StoredKey } from "./choose-key";
import { encryptApiKey } from "./encryption";
import { keyIdOf } from "./fingerprints";
import { KeyMintTimeoutError, type MintedApiKey } from "./mint";

const encryptionKey = randomBytes(32);
const now = new Date("2030-06-01T12:00:00Z");
const instanceId = randomUUID();
const userId = randomUUID();
const current = "c".repeat(40);
const previous = "p".repeat(40);
const retired = "r".repeat(40);
const keyRing: KeyRing = { current, previous: [previous] };
const HOUR = 3600;

const freshToken = "eyJhbGciOiJIUzI1NiJ9.eyJmcmVzaCI6dHJ1ZX0.ZnJlc2g";
const minted: MintedApiKey = {
  token: freshToken,
  keyId: keyIdOf(freshToken),
  jti: randomUUID(),
  signingKid: signingKeyIdOf(current),
  userId,
  instanceId,
  expiresAt: new Date("2030-07-01T12:00:00Z"),
  mintedAt: now,
  pepperFingerprint: "pf_0123456789ab",
};
const timedOut: MintOutcome = { ok: false, error: new KeyMintTimeoutError(5_000) };

/** A real stored key: signed, encrypted for this instance, its expiry on the row as minting records it. */
async function storedKey(
  options: { secret?: string; env?: string; lifetimeSeconds?: number; issuedAt?: Date; forInstance?: string } = {},
  overrides: Partial<StoredKey> = {},
): Promise<{ row: StoredKey; token: string }> {
  const { token, expiresAt } = await signKiloToken({
    userId,
    pepper: "pepper-".padEnd(40, "x"),
    secret: options.secret ?? current,
    expiresInSeconds: options.lifetimeSeconds ?? 10 * 24 * HOUR,
    env: options.env,
    extra: { instanceId: options.forInstance ?? instanceId, jti: randomUUID() },
    now: options.issuedAt ?? new Date(now.getTime() - HOUR * 1000),
  });
  const row: StoredKey = {
    id: instanceId,
    encryptedKey: encryptApiKey(token, { encryptionKey, instanceId }),
    keyExpiresAt: expiresAt,
    keyRevokedAt: null,
    ...overrides,
  };
  return { row, token };
}

function input(stored: StoredKey | null, overrides: Partial<ChooseKeyInput> = {}): ChooseKeyInput {
  return { mint: timedOut, stored, now, encryptionKey, keyRing, minRemainingMs: 60 * 60_000, ...overrides };
}

async function refusal(choice: Promise<unknown>): Promise<AppError> {
  const error = await choice.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (error instanceof AppError) return error;
  throw error ?? new Error("expected key_unavailable");
}

describe("chooseKeyToDeploy", () => {
  it("deploys the fresh key whenever minting worked, whatever is stored", async () => {
    const { row } = await storedKey();
    for (const stored of [null, row, { ...row, keyRevokedAt: now, keyExpiresAt: null }]) {
      expect(await chooseKeyToDeploy(input(stored, { mint: { ok: true, key: minted } }))).toEqual({
        source: "minted",
        token: freshToken,
        keyId: minted.keyId,
        jti: minted.jti,
        signingKid: minted.signingKid,
        expiresAt: minted.expiresAt,
        pepperFingerprint: minted.pepperFingerprint,
      });
    }
  });

  it("falls back to a stored key that verifies, was never revoked and has life left", async () => {
    const { row, token } = await storedKey();
    const choice = await chooseKeyToDeploy(input(row));
    expect(choice).toMatchObject({ source: "fallback", token, keyId: keyIdOf(token), signingKid: signingKeyIdOf(current) });
    expect(choice.expiresAt).toEqual(row.keyExpiresAt);
    expect(choice.jti).toBe((jwt.decode(token) as { jti: string }).jti);
  });

  it("accepts a valid key signed under a previous secret that is still in the ring", async () => {
    const { row } = await storedKey({ secret: previous });
    expect(await chooseKeyToDeploy(input(row))).toMatchObject({ source: "fallback", signingKid: signingKeyIdOf(previous) });
  });

  it("accepts a key without a kid header (minted before keys carried one) that verifies under a ring secret", async () => {
    const exp = Math.floor(now.getTime() / 1000) + 5 * 24 * HOUR;
    const token = jwt.sign(
      { kiloUserId: userId, apiTokenPepper: null, version: KILO_TOKEN_VERSION, instanceId, jti: randomUUID(), iat: exp - 30 * 24 * HOUR, exp },
      previous,
      { algorithm: "HS256" },
    );
    const row: StoredKey = { id: instanceId, encryptedKey: encryptApiKey(token, { encryptionKey, instanceId }), keyExpiresAt: new Date(exp * 1000), keyRevokedAt: null };
    expect(await chooseKeyToDeploy(input(row))).toMatchObject({ source: "fallback", signingKid: signingKeyIdOf(previous) });
  });

  it("accepts an ISO string expiry read as text", async () => {
    const { row } = await storedKey();
    const choice = await chooseKeyToDeploy(input({ ...row, keyExpiresAt: (row.keyExpiresAt as Date).toISOString() }));
    expect(choice.source).toBe("fallback");
  });

  const rowCases: [string, (row: StoredKey) => StoredKey | null, string, RegExp][] = [
    ["no stored row", () => null, "no_stored_key", /no stored key/],
    ["a row without a key", (row) => ({ ...row, encryptedKey: null }), "no_stored_key", /no stored key/],
    ["a missing expiry (null)", (row) => ({ ...row, keyExpiresAt: null }), "expiry_missing", /expiry was never recorded/],
    ["a missing expiry (undefined)", (row) => ({ ...row, keyExpiresAt: undefined }), "expiry_missing", /expiry was never recorded/],
    ["an empty expiry", (row) => ({ ...row, keyExpiresAt: "" }), "expiry_missing", /expiry was never recorded/],
    ["an unparsable expiry string", (row) => ({ ...row, keyExpiresAt: "next tuesday" }), "expiry_unparsable", /"next tuesday"\) is not a valid timestamp/],
    ["an invalid Date", (row) => ({ ...row, keyExpiresAt: new Date(Number.NaN) }), "expiry_unparsable", /not a valid timestamp/],
    ["a past recorded expiry", (row) => ({ ...row, keyExpiresAt: new Date("2030-05-31T00:00:00Z") }), "expired", /expired at 2030-05-31T00:00:00.000Z/],
    ["a recorded expiry exactly now", (row) => ({ ...row, keyExpiresAt: now }), "expired", /expired at/],
    ["a key revoked by a pepper rotation", (row) => ({ ...row, keyRevokedAt: new Date("2030-06-01T11:00:00Z") }), "revoked", /revoked by a pepper rotation at 2030-06-01T11:00:00.000Z/],
    ["a rotated key that is also expired", (row) => ({ ...row, keyRevokedAt: now, keyExpiresAt: new Date("2030-01-01T00:00:00Z") }), "revoked", /revoked/],
    ["a key from another instance's row", (row) => ({ ...row, id: randomUUID() }), "undecryptable", /cannot be decrypted/],
    ["a row whose expiry is later than the key's own", (row) => ({ ...row, keyExpiresAt: new Date("2030-06-20T00:00:00Z") }), "expiry_mismatch", /disagrees with the recorded one/],
  ];

  it.each(rowCases)("refuses %s with key_unavailable naming the condition", async (_, edit, reason, message) => {
    const { row, token } = await storedKey();
    const error = await refusal(chooseKeyToDeploy(input(edit(row))));
    expect(error.code).toBe("key_unavailable");
    expect(error.status).toBe(503);
    expect(error.details).toEqual({ reason, mintError: "key_unavailable" });
    expect(error.message).toMatch(message);
    expect(error.message).toMatch(/timed out after 5000 ms/);
    expect(error.message).toMatch(/Retry/);
    expect(error.message).not.toContain(token);
  });

  const keyCases: [string, Parameters<typeof storedKey>[0], Partial<ChooseKeyInput>, string, RegExp][] = [
    ["a key under a secret no longer in the ring", { secret: retired }, {}, "signature_invalid", /no longer configured/],
    ["a key minted for another KILO_TOKEN_ENV", { env: "staging" }, { tokenEnv: "production" }, "env_mismatch", /another environment/],
    ["an unbound key where KILO_TOKEN_ENV is required", {}, { tokenEnv: "production" }, "env_mismatch", /another environment/],
    [
      "a key whose own exp has passed while the row says future",
      { lifetimeSeconds: 2 * HOUR, issuedAt: new Date(now.getTime() - 3 * HOUR * 1000) },
      {},
      "token_expired",
      /own expiry has passed/,
    ],
    ["a key with 10 minutes left", { lifetimeSeconds: HOUR, issuedAt: new Date(now.getTime() - 50 * 60_000) }, {}, "expiring", /only 10 minutes left/],
    ["a key with one second left", { lifetimeSeconds: HOUR, issuedAt: new Date(now.getTime() - (HOUR - 1) * 1000) }, {}, "expiring", /only 0 minutes left/],
    ["a key minted for another instance", { forInstance: randomUUID() }, {}, "instance_mismatch", /another instance/],
  ];

  it.each(keyCases)("refuses %s", async (_, keyOptions, overrides, reason, message) => {
    const { row, token } = await storedKey(keyOptions);
    // The row is made to look healthy: only the key itself can tell it is dead.
    const error = await refusal(chooseKeyToDeploy(input({ ...row, keyExpiresAt: reason === "token_expired" ? new Date("2030-06-20T00:00:00Z") : row.keyExpiresAt }, overrides)));
    expect(error.details).toEqual({ reason: reason === "token_expired" ? "token_expired" : reason, mintError: "key_unavailable" });
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain(token);
  });

  it("refuses a key of an older format", async () => {
    const exp = Math.floor(now.getTime() / 1000) + 5 * 24 * HOUR;
    const token = jwt.sign({ kiloUserId: userId, apiTokenPepper: null, version: 2, instanceId, iat: exp - 1000, exp }, current, { algorithm: "HS256" });
    const row: StoredKey = { id: instanceId, encryptedKey: encryptApiKey(token, { encryptionKey, instanceId }), keyExpiresAt: new Date(exp * 1000), keyRevokedAt: null };
    expect((await refusal(chooseKeyToDeploy(input(row)))).details).toMatchObject({ reason: "wrong_version" });
  });

  it("refuses a stored value that decrypts to something that is not a key", async () => {
    const row: StoredKey = { id: instanceId, encryptedKey: encryptApiKey("not-a-jwt", { encryptionKey, instanceId }), keyExpiresAt: new Date("2030-06-10T00:00:00Z"), keyRevokedAt: null };
    expect((await refusal(chooseKeyToDeploy(input(row)))).details).toMatchObject({ reason: "malformed" });
  });

  it("refuses a stored key under another encryption key", async () => {
    const { row } = await storedKey();
    const error = await refusal(chooseKeyToDeploy(input(row, { encryptionKey: randomBytes(32) })));
    expect(error.details).toMatchObject({ reason: "undecryptable" });
    expect(error.message).toMatch(/KEY_ENCRYPTION_KEY/);
  });

  it("does not repeat an unexpected mint error's text (it may hold SQL)", async () => {
    const mint: MintOutcome = { ok: false, error: new Error('Failed query: select "api_token_pepper" from "users"') };
    const error = await refusal(chooseKeyToDeploy(input(null, { mint })));
    expect(error.message).toMatch(/an unexpected error/);
    expect(error.message).not.toMatch(/api_token_pepper/);
    expect(error.details).toMatchObject({ mintError: "internal_error" });
  });
});

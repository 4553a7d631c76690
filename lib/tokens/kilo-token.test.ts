import jwt from "jsonwebtoken";
import { describe, expect, it } from "vitest";
import {
  KILO_TOKEN_VERSION,
  KiloTokenPayloadError,
  signKiloToken,
  verifyKiloToken,
  type SignKiloTokenExtra,
} from "./kilo-token";
import { keyRingFingerprint, secretForKeyId, signingKeyIdOf, signingKeyStatus } from "./key-ring";

const secret = "s".repeat(40);
const otherSecret = "o".repeat(40);
const userId = "3f0c2a4e-8a57-4a8e-9d67-1b7d2f7f3a10";
const instanceId = "b5a7e1c2-4d3f-4e8a-9c1b-2a3d4e5f6a7b";
const pepper = "p".repeat(48);
const now = new Date("2030-01-01T00:00:00Z");
const thirtyDays = 30 * 24 * 3600;

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

async function mint(overrides: Partial<Parameters<typeof signKiloToken>[0]> = {}) {
  return signKiloToken({ userId, pepper, secret, expiresInSeconds: thirtyDays, extra: { instanceId }, now, ...overrides });
}

describe("signKiloToken", () => {
  it("round-trips through verifyKiloToken with every claim", async () => {
    const { token, expiresAt } = await mint({ env: "staging" });
    const result = await verifyKiloToken(token, secret, { now, env: "staging" });
    expect(result).toEqual({
      ok: true,
      payload: {
        kiloUserId: userId,
        apiTokenPepper: pepper,
        version: KILO_TOKEN_VERSION,
        env: "staging",
        instanceId,
        iat: now.getTime() / 1000,
        exp: now.getTime() / 1000 + thirtyDays,
      },
      kid: signingKeyIdOf(secret),
      signedWith: "current",
    });
    expect(expiresAt.toISOString()).toBe("2030-01-31T00:00:00.000Z");
  });

  it("takes expiresAt from the token's own exp claim", async () => {
    const { token, expiresAt } = await mint({ expiresInSeconds: 90 });
    const exp = (jwt.decode(token) as { exp: number }).exp;
    expect(expiresAt.getTime()).toBe(exp * 1000);
  });

  it("signs an HS256 JWT header", async () => {
    const { token } = await mint();
    expect(jwt.decode(token, { complete: true })?.header).toEqual({ alg: "HS256", typ: "JWT", kid: signingKeyIdOf(secret) });
  });

  it("accepts a null pepper for legacy payloads", async () => {
    const { token } = await mint({ pepper: null });
    const result = await verifyKiloToken(token, secret, { now });
    expect(result.ok && result.payload.apiTokenPepper).toBeNull();
  });

  it("throws on an unknown extra claim instead of signing it", async () => {
    const extra = { instanceId, admin: true } as unknown as SignKiloTokenExtra;
    await expect(mint({ extra })).rejects.toBeInstanceOf(KiloTokenPayloadError);
    await expect(mint({ extra })).rejects.toThrow(/admin/);
  });

  it("refuses extras that would override core claims", async () => {
    const extra = { version: 2 } as unknown as SignKiloTokenExtra;
    await expect(mint({ extra })).rejects.toBeInstanceOf(KiloTokenPayloadError);
  });

  it.each([0, -5, 1.5])("refuses a lifetime of %s seconds", async (expiresInSeconds) => {
    await expect(mint({ expiresInSeconds })).rejects.toBeInstanceOf(KiloTokenPayloadError);
  });

  it("never puts the pepper in its error message", async () => {
    const error = await mint({ userId: "" }).then(
      () => new Error("signed"),
      (caught: unknown) => caught as Error,
    );
    expect(error).toBeInstanceOf(KiloTokenPayloadError);
    expect(error.message).not.toContain(pepper);
  });
});

describe("verifyKiloToken rejections", () => {
  it("expired", async () => {
    const { token } = await mint({ expiresInSeconds: 60 });
    const later = new Date(now.getTime() + 61_000);
    expect(await verifyKiloToken(token, secret, { now: later })).toMatchObject({ ok: false, reason: "expired" });
  });

  it("expired exactly at exp (same rule as jose)", async () => {
    const { token, expiresAt } = await mint({ expiresInSeconds: 60 });
    expect(await verifyKiloToken(token, secret, { now: expiresAt })).toMatchObject({ ok: false, reason: "expired" });
  });

  it("another secret → unknown_signing_key (the kid names no secret of the ring)", async () => {
    const { token } = await mint();
    expect(await verifyKiloToken(token, otherSecret, { now })).toMatchObject({ ok: false, reason: "unknown_signing_key" });
  });

  it("another secret without a kid header → bad_signature", async () => {
    const token = jwt.sign({ kiloUserId: userId, apiTokenPepper: pepper, version: KILO_TOKEN_VERSION, iat: 1, exp: 2_000_000_000 }, secret, { algorithm: "HS256" });
    expect(await verifyKiloToken(token, otherSecret, { now })).toMatchObject({ ok: false, reason: "bad_signature" });
  });

  it("tampered payload → bad_signature", async () => {
    const { token } = await mint();
    const [header, payload, signature] = token.split(".");
    const claims = JSON.parse(Buffer.from(payload!, "base64url").toString()) as Record<string, unknown>;
    const tampered = `${header}.${base64url({ ...claims, kiloUserId: "someone-else" })}.${signature}`;
    expect(await verifyKiloToken(tampered, secret, { now })).toMatchObject({ ok: false, reason: "bad_signature" });
  });

  it("alg none → wrong_algorithm", async () => {
    const claims = { kiloUserId: userId, apiTokenPepper: pepper, version: 3, instanceId, iat: 1, exp: 4_000_000_000 };
    const unsigned = `${base64url({ alg: "none", typ: "JWT" })}.${base64url(claims)}.`;
    expect(await verifyKiloToken(unsigned, secret, { now })).toMatchObject({ ok: false, reason: "wrong_algorithm" });
  });

  it("HS512 with the same secret → wrong_algorithm", async () => {
    const token = jwt.sign({ kiloUserId: userId, apiTokenPepper: pepper, version: 3 }, secret, { algorithm: "HS512", expiresIn: "1h" });
    expect(await verifyKiloToken(token, secret)).toMatchObject({ ok: false, reason: "wrong_algorithm" });
  });

  it("an HS256 header over an HS512 signature → bad_signature", async () => {
    const token = jwt.sign({ kiloUserId: userId, apiTokenPepper: pepper, version: 3 }, secret, { algorithm: "HS512", expiresIn: "1h" });
    const [, payload, signature] = token.split(".");
    const relabelled = `${base64url({ alg: "HS256", typ: "JWT" })}.${payload}.${signature}`;
    expect(await verifyKiloToken(relabelled, secret)).toMatchObject({ ok: false, reason: "bad_signature" });
  });

  it("wrong version", async () => {
    const token = jwt.sign({ kiloUserId: userId, apiTokenPepper: pepper, version: 2 }, secret, { algorithm: "HS256", expiresIn: "1h" });
    expect(await verifyKiloToken(token, secret)).toMatchObject({ ok: false, reason: "wrong_version" });
  });

  it("missing version → wrong_version", async () => {
    const token = jwt.sign({ kiloUserId: userId, apiTokenPepper: pepper }, secret, { algorithm: "HS256", expiresIn: "1h" });
    expect(await verifyKiloToken(token, secret)).toMatchObject({ ok: false, reason: "wrong_version" });
  });

  it.each([
    ["not a JWT", "hello"],
    ["empty", ""],
    ["garbage segments", "a.b.c"],
    ["two segments", `${base64url({ alg: "HS256" })}.${base64url({})}`],
  ])("malformed: %s", async (_, token) => {
    expect(await verifyKiloToken(token, secret)).toMatchObject({ ok: false, reason: "malformed" });
  });

  it("malformed: signed payload without kiloUserId", async () => {
    const token = jwt.sign({ apiTokenPepper: pepper, version: 3 }, secret, { algorithm: "HS256", expiresIn: "1h" });
    expect(await verifyKiloToken(token, secret)).toMatchObject({ ok: false, reason: "malformed" });
  });

  it("malformed: signed payload without exp", async () => {
    const token = jwt.sign({ kiloUserId: userId, apiTokenPepper: pepper, version: 3 }, secret, { algorithm: "HS256" });
    expect(await verifyKiloToken(token, secret)).toMatchObject({ ok: false, reason: "malformed" });
  });

  it("env mismatch, and a missing env when one is required", async () => {
    const { token: staging } = await mint({ env: "staging" });
    const { token: noEnv } = await mint();
    expect(await verifyKiloToken(staging, secret, { now, env: "production" })).toMatchObject({ ok: false, reason: "env_mismatch" });
    expect(await verifyKiloToken(noEnv, secret, { now, env: "production" })).toMatchObject({ ok: false, reason: "env_mismatch" });
  });

  it("failure messages never contain the token or the pepper", async () => {
    const { token } = await mint({ expiresInSeconds: 1 });
    const result = await verifyKiloToken(token, otherSecret, { now });
    expect(result.ok).toBe(false);
    const text = JSON.stringify(result);
    expect(text).not.toContain(token);
    expect(text).not.toContain(pepper);
  });
});

describe("interop with jsonwebtoken", () => {
  it("a key minted by jsonwebtoken with expiresIn verifies", async () => {
    const token = jwt.sign({ kiloUserId: userId, apiTokenPepper: pepper, version: KILO_TOKEN_VERSION, instanceId }, secret, {
      algorithm: "HS256",
      expiresIn: "30d",
    });
    const result = await verifyKiloToken(token, secret);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.payload).toMatchObject({ kiloUserId: userId, apiTokenPepper: pepper, version: 3, instanceId });
    expect(result.payload.exp - result.payload.iat).toBe(thirtyDays);
  });

  it("our keys verify with jsonwebtoken and decode to the same payload", async () => {
    const { token, expiresAt } = await signKiloToken({ userId, pepper, secret, expiresInSeconds: 3600, extra: { instanceId } });
    const decoded = jwt.verify(token, secret, { algorithms: ["HS256"] }) as Record<string, unknown>;
    expect(decoded).toMatchObject({ kiloUserId: userId, apiTokenPepper: pepper, version: 3, instanceId });
    expect(decoded.exp).toBe(expiresAt.getTime() / 1000);
    expect(() => jwt.verify(token, otherSecret, { algorithms: ["HS256"] })).toThrow(/invalid signature/);
  });
});

describe("key ring", () => {
  const retiring = "r".repeat(40);
  const incoming = "i".repeat(40);

  it("a kid is a one-way fingerprint of its secret, stable and distinct per secret", () => {
    expect(signingKeyIdOf(secret)).toMatch(/^sk_[0-9a-f]{16}$/);
    expect(signingKeyIdOf(secret)).toBe(signingKeyIdOf(secret));
    expect(signingKeyIdOf(secret)).not.toBe(signingKeyIdOf(otherSecret));
    expect(signingKeyIdOf(secret)).not.toContain(secret.slice(0, 8));
  });

  it("verifies a key under a previous secret while it stays in the ring, and says so", async () => {
    const { token } = await mint({ secret: retiring });
    expect(await verifyKiloToken(token, { current: secret, previous: [retiring] }, { now })).toMatchObject({
      ok: true,
      kid: signingKeyIdOf(retiring),
      signedWith: "previous",
    });
    expect(await verifyKiloToken(token, { current: secret, previous: [] }, { now })).toMatchObject({ ok: false, reason: "unknown_signing_key" });
  });

  it("a replica that has only the incoming secret as previous verifies keys the first rotated replica mints", async () => {
    const { token } = await mint({ secret: incoming });
    expect(await verifyKiloToken(token, { current: secret, previous: [incoming] }, { now })).toMatchObject({ ok: true, signedWith: "previous" });
  });

  it("tries a token without kid against the current secret, then each previous one", async () => {
    const payload = { kiloUserId: userId, apiTokenPepper: pepper, version: KILO_TOKEN_VERSION, instanceId, iat: now.getTime() / 1000, exp: now.getTime() / 1000 + 60 };
    const underPrevious = jwt.sign(payload, retiring, { algorithm: "HS256" });
    expect(await verifyKiloToken(underPrevious, { current: secret, previous: [incoming, retiring] }, { now })).toMatchObject({
      ok: true,
      kid: signingKeyIdOf(retiring),
    });
    expect(await verifyKiloToken(underPrevious, { current: secret, previous: [incoming] }, { now })).toMatchObject({ ok: false, reason: "bad_signature" });
    const expired = jwt.sign({ ...payload, exp: now.getTime() / 1000 - 1 }, retiring, { algorithm: "HS256" });
    expect(await verifyKiloToken(expired, { current: secret, previous: [retiring] }, { now })).toMatchObject({ ok: false, reason: "expired" });
  });

  it("a forged kid pointing at another secret does not help a token signed with a third", async () => {
    const forged = jwt.sign({ kiloUserId: userId, apiTokenPepper: pepper, version: KILO_TOKEN_VERSION, iat: 1, exp: 2_000_000_000 }, otherSecret, {
      algorithm: "HS256",
      keyid: signingKeyIdOf(secret),
    });
    expect(await verifyKiloToken(forged, secret, { now })).toMatchObject({ ok: false, reason: "bad_signature" });
  });

  it("classifies stored kids against the ring", () => {
    const ids = { current: signingKeyIdOf(secret), previous: [signingKeyIdOf(retiring)] };
    expect(signingKeyStatus(ids, signingKeyIdOf(secret))).toBe("current");
    expect(signingKeyStatus(ids, signingKeyIdOf(retiring))).toBe("previous");
    expect(signingKeyStatus(ids, signingKeyIdOf(otherSecret))).toBe("retired");
    expect(signingKeyStatus(ids, null)).toBe("current");
    expect(secretForKeyId({ current: secret, previous: [retiring] }, signingKeyIdOf(retiring))).toBe(retiring);
    expect(keyRingFingerprint({ current: secret, previous: [retiring] })).not.toContain(secret);
  });
});

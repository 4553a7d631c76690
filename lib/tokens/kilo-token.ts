import "server-only";
import { decodeProtectedHeader, jwtVerify, SignJWT, decodeJwt, type JWTPayload } from "jose";
import { z } from "zod";
import { secretForKeyId, signingKeyIdOf, type KeyRing, type SigningKeyStatus } from "./key-ring";

/**
 * The one token format: every KiloCode API key carries this version. Bumping it invalidates every
 * key in circulation, so it changes only with the payload shape.
 */
export const KILO_TOKEN_VERSION = 3;

/** HS256 only: a token under any other algorithm (including `none`) is refused before verification. */
const ALGORITHM = "HS256";

const claims = {
  kiloUserId: z.string().min(1),
  apiTokenPepper: z.string().nullable(),
  version: z.literal(KILO_TOKEN_VERSION),
  env: z.string().min(1).optional(),
  instanceId: z.string().min(1).optional(),
  /** Unique per mint, so two keys minted for one instance within the same second still differ. */
  jti: z.string().min(1).optional(),
  iat: z.number().int().nonnegative(),
  exp: z.number().int().positive(),
};

/**
 * The payload as verification reads it. Other registered claims another HS256 signer may add
 * (`nbf`, `sub`, …) are dropped rather than refused, so keys minted elsewhere with the same payload verify.
 */
export const kiloTokenPayloadSchema = z
  .object(claims)
  .refine((payload) => payload.exp > payload.iat, { message: "exp must be after iat", path: ["exp"] });

export type KiloTokenPayload = z.infer<typeof kiloTokenPayloadSchema>;

/** Signing is strict: a claim the format does not know is a bug, so it throws instead of being signed. */
const strictPayloadSchema = z
  .strictObject(claims)
  .refine((payload) => payload.exp > payload.iat, { message: "exp must be after iat", path: ["exp"] });

/** The optional claims a caller may add. Sign and verify share the payload type, so they cannot drift. */
const extraClaimMask = { instanceId: true, jti: true } as const;
export type SignKiloTokenExtra = Pick<KiloTokenPayload, keyof typeof extraClaimMask>;
const extraClaimsSchema = z.strictObject(claims).pick(extraClaimMask);

export interface SignKiloTokenInput {
  userId: string;
  /** The user's current api_token_pepper (null only for legacy tokens that predate peppers). */
  pepper: string | null;
  /** The signing secret (the key ring's current one); its fingerprint goes into the `kid` header. */
  secret: string;
  expiresInSeconds: number;
  env?: string;
  extra?: SignKiloTokenExtra;
  /** Issue time; defaults to the wall clock. */
  now?: Date;
}

export interface SignedKiloToken {
  token: string;
  /** Read back from the token's own `exp`, so what we store is exactly what verifiers enforce. */
  expiresAt: Date;
  /** The `kid` header: which secret signed it (signingKeyIdOf), never the secret. */
  kid: string;
}

/** Thrown when signKiloToken is asked to sign a payload outside the format (a programming error). */
export class KiloTokenPayloadError extends Error {
  constructor(issues: readonly { path: PropertyKey[]; message: string }[]) {
    // Issue messages name the claim, never its value: the payload holds the pepper.
    super(`Refusing to sign an invalid Kilo token payload: ${issues.map((issue) => `${issue.path.join(".") || "payload"}: ${issue.message}`).join("; ")}`);
    this.name = "KiloTokenPayloadError";
  }
}

/**
 * Signs a version-3 Kilo token with HS256. Pure apart from reading the clock when `now` is omitted;
 * safe to call concurrently. Throws KiloTokenPayloadError, before anything is signed, for an unknown
 * extra claim, a non-positive lifetime or an empty user id.
 */
export async function signKiloToken(input: SignKiloTokenInput): Promise<SignedKiloToken> {
  if (!Number.isInteger(input.expiresInSeconds) || input.expiresInSeconds <= 0) {
    throw new KiloTokenPayloadError([{ path: ["expiresInSeconds"], message: "must be a positive whole number of seconds" }]);
  }
  const extra = extraClaimsSchema.safeParse(input.extra ?? {});
  if (!extra.success) throw new KiloTokenPayloadError(extra.error.issues);
  const iat = Math.floor((input.now?.getTime() ?? Date.now()) / 1000);
  const payload = strictPayloadSchema.safeParse({
    ...extra.data,
    kiloUserId: input.userId,
    apiTokenPepper: input.pepper,
    version: KILO_TOKEN_VERSION,
    ...(input.env !== undefined ? { env: input.env } : {}),
    iat,
    exp: iat + input.expiresInSeconds,
  });
  if (!payload.success) throw new KiloTokenPayloadError(payload.error.issues);

  const kid = signingKeyIdOf(input.secret);
  const token = await new SignJWT(payload.data as unknown as JWTPayload)
    .setProtectedHeader({ alg: ALGORITHM, typ: "JWT", kid })
    .sign(await hmacKey(input.secret));
  const exp = decodeJwt(token).exp;
  if (typeof exp !== "number") throw new Error("jose produced a token without exp");
  return { token, expiresAt: new Date(exp * 1000), kid };
}

export type KiloTokenFailure =
  | "expired"
  | "bad_signature"
  | "wrong_algorithm"
  | "wrong_version"
  | "malformed"
  | "env_mismatch"
  | "unknown_signing_key";

export type VerifyKiloTokenResult =
  | {
      ok: true;
      payload: KiloTokenPayload;
      /** The `kid` of the secret that verified it (also for a token that carried none). */
      kid: string;
      /** `previous`: valid, but under a secret being retired; the holder should get a fresh key. */
      signedWith: Exclude<SigningKeyStatus, "retired">;
    }
  | { ok: false; reason: KiloTokenFailure; message: string };

export interface VerifyKiloTokenOptions {
  /** When set, the token's `env` claim must equal it (a staging key must not work in production). */
  env?: string;
  now?: Date;
  /** Allowed clock skew for `exp`; 0 by default because we are the only issuer. */
  clockToleranceSeconds?: number;
}

/**
 * Verifies signature (HS256 only), expiry, version, payload shape and `env`, in that order, and
 * returns the payload or a typed failure; it never throws for a bad token. It does not check the
 * pepper or the instance: that needs the database (see lib/keys/authenticate.ts).
 *
 * The secret is chosen by the token's `kid` header among the ring's secrets; a `kid` the ring does
 * not hold is `unknown_signing_key`. A token without `kid` (another HS256 signer, or a key minted
 * before keys carried one) is tried against the current secret, then each previous one.
 * A plain string is a ring of one secret. Failure messages never contain the token or any claim value.
 */
export async function verifyKiloToken(
  token: string,
  ring: KeyRing | string,
  options: VerifyKiloTokenOptions = {},
): Promise<VerifyKiloTokenResult> {
  const keyRing: KeyRing = typeof ring === "string" ? { current: ring, previous: [] } : ring;
  let header: { alg?: unknown; kid?: unknown };
  try {
    header = decodeProtectedHeader(token);
  } catch {
    return failure("malformed", "The token is not a well-formed JWT.");
  }
  // Checked before jose so `none`, HS512 and asymmetric algorithms all get the same typed answer.
  if (header.alg !== ALGORITHM) return failure("wrong_algorithm", `The token must be signed with ${ALGORITHM}.`);

  let candidates: string[];
  if (header.kid === undefined) {
    candidates = [keyRing.current, ...keyRing.previous];
  } else {
    const secret = typeof header.kid === "string" ? secretForKeyId(keyRing, header.kid) : undefined;
    if (!secret) {
      return failure("unknown_signing_key", "The token was signed with a key this server no longer (or does not yet) accept; get a fresh key.");
    }
    candidates = [secret];
  }

  let verified: { raw: JWTPayload; secret: string } | undefined;
  let lastFailure: VerifyKiloTokenResult | undefined;
  for (const secret of candidates) {
    try {
      const { payload } = await jwtVerify(token, await hmacKey(secret), {
        algorithms: [ALGORITHM],
        currentDate: options.now,
        clockTolerance: options.clockToleranceSeconds ?? 0,
      });
      verified = { raw: payload, secret };
      break;
    } catch (error) {
      lastFailure = joseFailure(error);
      // Only a signature mismatch means "maybe another secret": expiry and shape are the token's own.
      if (lastFailure.ok === false && lastFailure.reason !== "bad_signature") return lastFailure;
    }
  }
  if (!verified) return lastFailure ?? failure("bad_signature", "The token's signature is not valid.");

  const { raw } = verified;
  if (raw.version !== KILO_TOKEN_VERSION) {
    return failure("wrong_version", `The token is not a version ${KILO_TOKEN_VERSION} key; mint a new one.`);
  }
  const parsed = kiloTokenPayloadSchema.safeParse(raw);
  if (!parsed.success) return failure("malformed", "The token's claims do not match the key format.");
  if (options.env !== undefined && parsed.data.env !== options.env) {
    return failure("env_mismatch", "The token was minted for another environment.");
  }
  return {
    ok: true,
    payload: parsed.data,
    kid: signingKeyIdOf(verified.secret),
    signedWith: verified.secret === keyRing.current ? "current" : "previous",
  };
}

function failure(reason: KiloTokenFailure, message: string): VerifyKiloTokenResult {
  return { ok: false, reason, message };
}

function joseFailure(error: unknown): VerifyKiloTokenResult {
  switch ((error as { code?: unknown } | null)?.code) {
    case "ERR_JWT_EXPIRED":
      return failure("expired", "The token has expired.");
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return failure("bad_signature", "The token's signature is not valid.");
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return failure("wrong_algorithm", `The token must be signed with ${ALGORITHM}.`);
    default:
      // Invalid JWS/JWT structure, unparsable claims, a future `nbf`: none of them is a key we issued.
      return failure("malformed", "The token is not a well-formed Kilo key.");
  }
}

// jose would import a raw secret through WebCrypto on every call; importing once per secret keeps
// sign and verify at the cost of the HMAC itself. A process holds a key ring of a few secrets.
const importedKeys = new Map<string, Promise<CryptoKey>>();
const MAX_IMPORTED_KEYS = 16;

function hmacKey(secret: string): Promise<CryptoKey> {
  if (!secret) throw new Error("A signing secret is required (NEXTAUTH_SECRET).");
  let key = importedKeys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    if (importedKeys.size >= MAX_IMPORTED_KEYS) importedKeys.clear();
    importedKeys.set(secret, key);
  }
  return key;
}

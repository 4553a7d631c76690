import { decode, encode, type JWT } from "next-auth/jwt";
import { getEnv } from "@/shared/env";
import type { KeyRing } from "@/lib/tokens/key-ring";

/** How long a session lives (next-auth's session.maxAge); a re-issued cookie gets the same. */
export const SESSION_MAX_AGE_SECONDS = 7 * 24 * 60 * 60;

export interface DecodedSession {
  payload: JWT;
  /** `previous`: sealed under a secret being retired; re-issue it under the current one. */
  sealedWith: "current" | "previous";
}

/**
 * Opens a next-auth session token under the key ring: the current secret first, then each
 * previous one, so a rotation of NEXTAUTH_SECRET signs nobody out while the old secret stays in
 * NEXTAUTH_SECRET_PREVIOUS. Null for a token no secret of the ring opens, or an expired one.
 */
export async function decodeSessionToken(token: string, ring: KeyRing): Promise<DecodedSession | null> {
  for (const [index, secret] of [ring.current, ...ring.previous].entries()) {
    const payload = await decode({ token, secret }).catch(() => null);
    if (payload) return { payload, sealedWith: index === 0 ? "current" : "previous" };
  }
  return null;
}

/** Seals a session payload under the ring's current secret, for the rest of a fresh session lifetime. */
export function encodeSessionToken(payload: JWT, ring: KeyRing): Promise<string> {
  return encode({ token: payload, secret: ring.current, maxAge: SESSION_MAX_AGE_SECONDS });
}

/**
 * The one cookie name next-auth issues on this deployment: `__Secure-` (with `Secure`) when
 * NEXTAUTH_URL is https. The other name is never read, so a cookie planted without `Secure`
 * (over http, or by a sibling subdomain) cannot stand in for a session on an https deployment.
 */
export function sessionCookieName(): string {
  return getEnv().NEXTAUTH_URL?.startsWith("https://") ? "__Secure-next-auth.session-token" : "next-auth.session-token";
}

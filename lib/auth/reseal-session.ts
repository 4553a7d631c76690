import type { NextRequest, NextResponse } from "next/server";
import { getEnv } from "@/shared/env";
import { keyRingFromEnv } from "@/lib/tokens/configured";
import { decodeSessionToken, encodeSessionToken, SESSION_MAX_AGE_SECONDS, sessionCookieName } from "./session-token";

/**
 * During a NEXTAUTH_SECRET rotation: when the request's session cookie was sealed under a previous
 * secret, sets a fresh one sealed under the current secret on `response`, so the session outlives
 * the previous secret's removal. Does nothing for a current, missing or unreadable cookie (and for
 * one next-auth split into chunks, which still opens until it is next re-issued).
 */
export async function resealSessionCookie(request: NextRequest, response: NextResponse): Promise<void> {
  const ring = keyRingFromEnv(getEnv());
  if (!ring || ring.previous.length === 0) return;
  const name = sessionCookieName();
  const raw = request.cookies.get(name)?.value;
  if (!raw) return;
  const session = await decodeSessionToken(raw, ring);
  if (session?.sealedWith !== "previous") return;
  // The payload is kept whole (its session version `sv` included), only sealed anew.
  response.cookies.set(name, await encodeSessionToken(session.payload, ring), {
    httpOnly: true,
    sameSite: "lax",
    path: "/",
    secure: name.startsWith("__Secure-"),
    maxAge: SESSION_MAX_AGE_SECONDS,
  });
}

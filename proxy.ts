import { NextResponse, type NextRequest } from "next/server";
import { resealSessionCookie } from "@/lib/auth/reseal-session";
import { rejectMalformedApiPath } from "@/lib/http/malformed-path";

// Only a convenience redirect for anonymous visitors: every page and handler checks the session
// itself against the database, so nothing here is a security boundary.
const SESSION_COOKIES = ["next-auth.session-token", "__Secure-next-auth.session-token"];

export async function proxy(request: NextRequest) {
  // /api paths arrive here only when they contain "%" (see the matcher): a broken encoding would
  // otherwise make Next itself answer a bare 500 before any handler runs.
  if (request.nextUrl.pathname.startsWith("/api/")) return rejectMalformedApiPath(request.nextUrl.pathname) ?? NextResponse.next();
  const hasSession = SESSION_COOKIES.some((name) => request.cookies.has(name));
  if (hasSession) {
    const response = NextResponse.next();
    await resealSessionCookie(request, response);
    return response;
  }
  const url = request.nextUrl.clone();
  url.pathname = "/sign-in";
  url.search = `?callbackUrl=${encodeURIComponent(request.nextUrl.pathname + request.nextUrl.search)}`;
  return NextResponse.redirect(url);
}

export const config = { matcher: ["/api/:path(.*%.*)", "/dashboard/:path*", "/admin/:path*", "/account/:path*", "/instances/:path*"] };

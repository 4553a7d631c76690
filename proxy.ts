import { NextResponse, type NextRequest } from "next/server";
import { resealSessionCookie } from "@/lib/auth/reseal-session";
import { rejectMalformedApiPath } from "@/lib/http/malformed-path";
import { pageContentSecurityPolicy } from "@/lib/http/security-headers";

// The redirect for anonymous visitors is only a convenience: every page and handler checks the
// session itself against the database, so nothing here is a security boundary.
const SESSION_COOKIES = ["next-auth.session-token", "__Secure-next-auth.session-token"];
const SIGNED_IN_AREAS = ["/dashboard", "/admin", "/account", "/instances"];

export async function proxy(request: NextRequest) {
  const { pathname } = request.nextUrl;
  // /api paths arrive here only when they contain "%" (see the matcher): a broken encoding would
  // otherwise make Next itself answer a bare 500 before any handler runs.
  if (pathname.startsWith("/api/")) return rejectMalformedApiPath(pathname) ?? NextResponse.next();

  const signedInArea = SIGNED_IN_AREAS.some((area) => pathname === area || pathname.startsWith(`${area}/`));
  if (signedInArea && !SESSION_COOKIES.some((name) => request.cookies.has(name))) {
    const url = request.nextUrl.clone();
    url.pathname = "/sign-in";
    url.search = `?callbackUrl=${encodeURIComponent(pathname + request.nextUrl.search)}`;
    return NextResponse.redirect(url);
  }

  // A fresh nonce per page: Next reads it from the request's CSP header and puts it on its scripts.
  const csp = pageContentSecurityPolicy({
    nonce: Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64"),
    development: process.env.NODE_ENV === "development",
    https: (process.env.NEXTAUTH_URL ?? "").startsWith("https:"),
  });
  const headers = new Headers(request.headers);
  headers.set("content-security-policy", csp);
  const response = NextResponse.next({ request: { headers } });
  response.headers.set("content-security-policy", csp);
  if (signedInArea) await resealSessionCookie(request, response);
  return response;
}

export const config = {
  matcher: ["/api/:path(.*%.*)", "/((?!api/|_next/static|_next/image|icon.svg|favicon.ico).*)"],
};

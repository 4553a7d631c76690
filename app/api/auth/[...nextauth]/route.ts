// next-auth's own endpoints (sign-in, callback, session, csrf, sign-out); called by the browser.
import NextAuth from "next-auth";
import { getAuthOptions } from "@/lib/auth/options";

export const dynamic = "force-dynamic";

type NextAuthRouteContext = { params: Promise<{ nextauth: string[] }> };

function handler(request: Request, context: NextAuthRouteContext) {
  return NextAuth(getAuthOptions())(request, context);
}

export { handler as GET, handler as POST };

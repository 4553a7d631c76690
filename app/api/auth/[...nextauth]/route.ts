// next-auth's own endpoints (sign-in, callback, session, csrf, sign-out); called by the browser. POST bodies are bounded and checked first.
import NextAuth from "next-auth";
import { NextRequest } from "next/server";
import { getAuthOptions } from "@/lib/auth/options";
import { readAuthRequestBody } from "@/lib/auth/request-body";
import { toErrorResponse } from "@/lib/http/errors";

export const dynamic = "force-dynamic";

type NextAuthRouteContext = { params: Promise<{ nextauth: string[] }> };

async function handler(request: NextRequest, context: NextAuthRouteContext) {
  try {
    if (request.method !== "POST") return await NextAuth(getAuthOptions())(request, context);
    const body = await readAuthRequestBody(request);
    const headers = new Headers(request.headers);
    headers.delete("content-length");
    const checked = new NextRequest(request.url, { method: "POST", headers, body });
    return await NextAuth(getAuthOptions())(checked, context);
  } catch (error) {
    return toErrorResponse(error);
  }
}

export { handler as GET, handler as POST };

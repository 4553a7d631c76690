import type { NextAuthOptions } from "next-auth";
import CredentialsProvider from "next-auth/providers/credentials";
import GitHubProvider from "next-auth/providers/github";
import { getDb, type Database } from "@/db";
import { getEnv, keyRingFromEnv } from "@/lib/env";
import { logger } from "@/lib/logger";
import { signInSchema } from "@/lib/users/schemas";
import { getUserByEmail, upsertUser } from "@/lib/users/users";
import { verifyAgainstDummy, verifyPassword } from "./password";
import { decodeSessionToken, SESSION_MAX_AGE_SECONDS } from "./session-token";
import { clearSignInFailures, isSignInThrottled, recordSignInFailure } from "./throttle";

/** Shown for unknown email and wrong password alike, so the form never reveals who has an account. */
export const INVALID_CREDENTIALS = "CredentialsSignin";
export const TOO_MANY_ATTEMPTS = "TooManyAttempts";

type RequestHeaders = Record<string, string | string[] | undefined> | undefined;

/**
 * The client address as our load balancer saw it: the LAST X-Forwarded-For entry, the one the
 * proxy in front of us appended. Earlier entries are whatever the client sent, so trusting them
 * would let an attacker pick a fresh "IP" for every guess.
 */
export function clientIp(headers: RequestHeaders): string | undefined {
  const forwarded = headers?.["x-forwarded-for"];
  const last = (Array.isArray(forwarded) ? forwarded.at(-1) : forwarded)?.split(",").at(-1)?.trim();
  const realIp = headers?.["x-real-ip"];
  return last || (Array.isArray(realIp) ? realIp[0] : realIp) || undefined;
}

/**
 * Checks email and password. Unknown email and wrong password cost the same time and give the
 * same error; failures are throttled per email and per IP across replicas.
 */
export async function authorizeCredentials(
  db: Database,
  raw: Record<string, string> | undefined,
  headers: RequestHeaders,
): Promise<{ id: string; email: string; name: string | null } | null> {
  const parsed = signInSchema.safeParse(raw ?? {});
  if (!parsed.success) return null;
  const { email, password } = parsed.data;
  const ip = clientIp(headers);
  if (await isSignInThrottled(db, email, ip)) throw new Error(TOO_MANY_ATTEMPTS);

  const user = await getUserByEmail(db, email);
  const valid = user?.passwordHash ? await verifyPassword(password, user.passwordHash) : await verifyAgainstDummy(password);
  if (!user || !valid) {
    await recordSignInFailure(db, email, ip);
    logger.info("sign-in failed", { reason: "invalid_credentials" });
    return null;
  }
  await clearSignInFailures(db, email);
  return { id: user.id, email: user.email, name: user.name };
}

export function buildAuthOptions(): NextAuthOptions {
  const env = getEnv();
  return {
    secret: env.NEXTAUTH_SECRET,
    session: { strategy: "jwt", maxAge: SESSION_MAX_AGE_SECONDS },
    // next-auth takes one secret; sessions sealed under a previous one (NEXTAUTH_SECRET_PREVIOUS)
    // must still open during a rotation. next-auth re-seals them under the current secret itself.
    jwt: {
      decode: async ({ token }) => {
        const ring = keyRingFromEnv(env);
        return token && ring ? ((await decodeSessionToken(token, ring))?.payload ?? null) : null;
      },
    },
    pages: { signIn: "/sign-in", error: "/sign-in" },
    providers: [
      CredentialsProvider({
        id: "credentials",
        name: "Email and password",
        credentials: { email: { label: "Email", type: "email" }, password: { label: "Password", type: "password" } },
        authorize: async (credentials, request) => authorizeCredentials(await getDb(), credentials, request.headers),
      }),
      ...(env.GITHUB_ID && env.GITHUB_SECRET
        ? [GitHubProvider({ clientId: env.GITHUB_ID, clientSecret: env.GITHUB_SECRET })]
        : []),
    ],
    callbacks: {
      async signIn({ account, user }) {
        if (account?.provider !== "github") return true;
        // Never attach a GitHub login to an existing password or admin account just because the
        // email matches: that would hand the account to whoever controls that GitHub email.
        if (!user.email) return false;
        const existing = await getUserByEmail(await getDb(), user.email);
        return !existing || (existing.passwordHash === null && existing.role === "user");
      },
      async jwt({ token, user, account }) {
        if (account?.provider === "github") {
          // OAuth users get a row of their own (no password); the token carries our id, not GitHub's.
          if (!token.email) return token;
          const { user: row } = await upsertUser(await getDb(), { email: token.email, name: token.name ?? undefined });
          token.sub = row.id;
        } else if (user) {
          token.sub = user.id;
        }
        // The role is deliberately not stored in the token: it is read from the database per request.
        return token;
      },
      session({ session, token }) {
        if (session.user) (session.user as { id?: string }).id = token.sub;
        return session;
      },
    },
  };
}

const globalForAuth = globalThis as typeof globalThis & { fleetdeckAuthOptions?: NextAuthOptions };

export function getAuthOptions(): NextAuthOptions {
  globalForAuth.fleetdeckAuthOptions ??= buildAuthOptions();
  return globalForAuth.fleetdeckAuthOptions;
}

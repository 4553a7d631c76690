import "server-only";
import type { NextAuthOptions } from "next-auth";
import CredentialsProvider from "next-auth/providers/credentials";
import GitHubProvider from "next-auth/providers/github";
import { getDb, type Database } from "@/db";
import { getEnv } from "@/shared/env";
import { keyRingFromEnv } from "@/lib/tokens/configured";
import { logger } from "@/shared/logger";
import { signInSchema } from "@/lib/users/schemas";
import { getUserByEmail, getUserByGithubId } from "@/lib/users/users";
import { clientAddress } from "@/lib/http/peer-address";
import { decideGithubSignIn } from "./github";
import { isPasswordHashingBusy, verifyAgainstDummy, verifyPassword } from "./password";
import { decodeSessionToken, SESSION_MAX_AGE_SECONDS } from "./session-token";
import { reserveSignInAttempt } from "./throttle";

export const TOO_MANY_ATTEMPTS = "TooManyAttempts";

type RequestHeaders = Record<string, string | string[] | undefined> | undefined;

/** The client address of a sign-in (lib/http/peer-address.ts, `TRUSTED_PROXY_HOPS`). */
export function clientIp(headers: RequestHeaders, trustedHops = getEnv().TRUSTED_PROXY_HOPS): string | undefined {
  return clientAddress(headers, trustedHops);
}

/**
 * Checks email and password. Unknown email and wrong password cost the same time and give the
 * same error. Each attempt takes a throttle slot per (email, IP) and per IP before the hash runs
 * (lib/auth/throttle.ts), and gives it back when the password is right; when the process is
 * already checking too many passwords the attempt is refused without hashing.
 */
export async function authorizeCredentials(
  db: Database,
  raw: Record<string, string> | undefined,
  headers: RequestHeaders,
): Promise<{ id: string; email: string; name: string | null; sessionVersion: number } | null> {
  const parsed = signInSchema.safeParse(raw ?? {});
  if (!parsed.success) return null;
  const { email, password } = parsed.data;
  const reservation = await reserveSignInAttempt(db, email, clientIp(headers));
  if (!reservation) throw new Error(TOO_MANY_ATTEMPTS);

  const user = await getUserByEmail(db, email);
  let valid: boolean;
  try {
    valid = user?.passwordHash ? await verifyPassword(password, user.passwordHash) : await verifyAgainstDummy(password);
  } catch (error) {
    if (isPasswordHashingBusy(error)) throw new Error(TOO_MANY_ATTEMPTS);
    throw error;
  }
  if (!user || !valid) {
    logger.info("sign-in failed", { reason: "invalid_credentials" });
    return null;
  }
  await reservation.release();
  return { id: user.id, email: user.email, name: user.name, sessionVersion: user.sessionVersion };
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
        ? [
            GitHubProvider({
              clientId: env.GITHUB_ID,
              clientSecret: env.GITHUB_SECRET,
              // read:org only when sign-up depends on organisation membership.
              authorization: { params: { scope: `read:user user:email${env.GITHUB_ALLOWED_ORGS.length ? " read:org" : ""}` } },
            }),
          ]
        : []),
    ],
    callbacks: {
      async signIn({ account, user }) {
        if (account?.provider !== "github") return true;
        // Bound to the GitHub account id and a verified email, never to an email alone (lib/auth/github.ts).
        const decision = await decideGithubSignIn(
          await getDb(),
          { githubId: account.providerAccountId, accessToken: account.access_token, name: user.name },
          env,
        );
        if (!decision.allowed) logger.info("github sign-in refused", { reason: decision.reason });
        return decision.allowed;
      },
      async jwt({ token, user, account }) {
        if (account?.provider === "github") {
          // The token carries our id (of the row linked to this GitHub account), not GitHub's.
          const row = await getUserByGithubId(await getDb(), account.providerAccountId);
          if (!row) return token;
          token.sub = row.id;
          token.sv = row.sessionVersion;
        } else if (user) {
          token.sub = user.id;
          token.sv = (user as { sessionVersion?: number }).sessionVersion;
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

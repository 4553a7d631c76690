import { eq } from "drizzle-orm";
import type { Database } from "@/db";
import { users } from "@/db/schema";
import type { Env } from "@/shared/env";
import { logger } from "@/shared/logger";

type Fetch = typeof fetch;

export interface GithubIdentity {
  /** GitHub's numeric account id (next-auth's `providerAccountId`): stable across renames and email changes. */
  githubId: string;
  accessToken: string | undefined;
  name?: string | null;
}

export type GithubSignInDecision = { allowed: true; userId: string } | { allowed: false; reason: string };

/**
 * Who a GitHub login is, bound to the GitHub account id, never to an email alone:
 * - a user already linked to this GitHub account signs in;
 * - otherwise GitHub must vouch for a verified primary email. An existing password or admin
 *   account with that email is never taken over; an existing passwordless user account (made by
 *   an earlier GitHub login, before accounts were linked by id) is linked to this GitHub account;
 * - signing up needs membership of one of GITHUB_ALLOWED_ORGS or a verified email in one of
 *   SIGNUP_ALLOWED_EMAIL_DOMAINS. With neither set, GitHub signs in existing users only.
 * Creating or linking the row is a conditional write, so two racing logins create one user.
 */
export async function decideGithubSignIn(
  db: Database,
  identity: GithubIdentity,
  env: Pick<Env, "GITHUB_ALLOWED_ORGS" | "SIGNUP_ALLOWED_EMAIL_DOMAINS">,
  fetchImpl: Fetch = fetch,
): Promise<GithubSignInDecision> {
  const [linked] = await db.select({ id: users.id }).from(users).where(eq(users.githubId, identity.githubId)).limit(1);
  if (linked) return { allowed: true, userId: linked.id };
  if (!identity.accessToken) return { allowed: false, reason: "no_access_token" };

  const email = await verifiedPrimaryEmail(identity.accessToken, fetchImpl);
  if (!email) return { allowed: false, reason: "no_verified_email" };
  const [existing] = await db.select().from(users).where(eq(users.email, email)).limit(1);
  if (existing) {
    if (existing.passwordHash !== null || existing.role !== "user" || existing.githubId !== null) {
      return { allowed: false, reason: "email_belongs_to_another_account" };
    }
    const [row] = await db
      .update(users)
      .set({ githubId: identity.githubId, updatedAt: new Date() })
      .where(eq(users.id, existing.id))
      .returning({ id: users.id, githubId: users.githubId });
    return row?.githubId === identity.githubId ? { allowed: true, userId: row.id } : { allowed: false, reason: "race" };
  }
  if (!(await maySignUp(email, identity.accessToken, env, fetchImpl))) return { allowed: false, reason: "sign_up_not_allowed" };
  const [created] = await db
    .insert(users)
    .values({ email, name: identity.name ?? null, githubId: identity.githubId })
    .onConflictDoNothing()
    .returning({ id: users.id });
  if (created) return { allowed: true, userId: created.id };
  // Lost a race with a login of the same account: sign in as the row it created.
  const [winner] = await db.select({ id: users.id }).from(users).where(eq(users.githubId, identity.githubId)).limit(1);
  return winner ? { allowed: true, userId: winner.id } : { allowed: false, reason: "race" };
}

async function githubGet(path: string, token: string, fetchImpl: Fetch): Promise<Response> {
  return fetchImpl(`https://api.github.com${path}`, {
    headers: { authorization: `Bearer ${token}`, accept: "application/vnd.github+json", "user-agent": "fleetdeck" },
    signal: AbortSignal.timeout(5_000),
  });
}

async function verifiedPrimaryEmail(token: string, fetchImpl: Fetch): Promise<string | undefined> {
  const response = await githubGet("/user/emails", token, fetchImpl);
  if (!response.ok) return undefined;
  const emails = (await response.json().catch(() => [])) as { email?: unknown; primary?: unknown; verified?: unknown }[];
  const primary = Array.isArray(emails) ? emails.find((entry) => entry.primary === true && entry.verified === true) : undefined;
  return typeof primary?.email === "string" ? primary.email.trim().toLowerCase() : undefined;
}

async function maySignUp(
  email: string,
  token: string,
  env: Pick<Env, "GITHUB_ALLOWED_ORGS" | "SIGNUP_ALLOWED_EMAIL_DOMAINS">,
  fetchImpl: Fetch,
): Promise<boolean> {
  const domain = email.split("@").at(-1) ?? "";
  if (env.SIGNUP_ALLOWED_EMAIL_DOMAINS.includes(domain)) return true;
  for (const org of env.GITHUB_ALLOWED_ORGS) {
    // Needs the read:org scope (requested when GITHUB_ALLOWED_ORGS is set); an inactive invitation does not count.
    const response = await githubGet(`/user/memberships/orgs/${encodeURIComponent(org)}`, token, fetchImpl);
    if (!response.ok) continue;
    const membership = (await response.json().catch(() => ({}))) as { state?: unknown };
    if (membership.state === "active") return true;
  }
  logger.info("github sign-up refused", { reason: "not_in_allowed_orgs_or_domains" });
  return false;
}

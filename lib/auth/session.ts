import { cookies } from "next/headers";
import { notFound, redirect } from "next/navigation";
import { getDb } from "@/db";
import { AppError } from "@/lib/errors";
import { getUserById, toSessionUser, type SessionUser } from "@/lib/users/users";
import { getEnv } from "@/shared/env";
import { keyRingFromEnv } from "@/lib/tokens/configured";
import { decodeSessionToken, sessionCookieName } from "./session-token";

export { sessionCookieName };

/**
 * The signed-in user, read fresh from the database (so a changed role or a deleted account takes
 * effect at once), or undefined when there is no valid session.
 */
export async function getSessionUser(): Promise<SessionUser | undefined> {
  const session = await readSessionUserId();
  const id = session?.id;
  if (!id || !/^[0-9a-f-]{36}$/i.test(id)) return undefined;
  const row = await getUserById(await getDb(), id);
  // A password change or "Sign out everywhere" bumps the version: every older session is over.
  return row && row.sessionVersion === session.sessionVersion ? toSessionUser(row) : undefined;
}


/**
 * The user id in next-auth's session cookie. Decoding the cookie directly (decrypt and check
 * expiry) is what getServerSession does too, minus building the whole auth handler and
 * re-encrypting a fresh cookie on every call: on the hot API paths that was most of the cost.
 */
async function readSessionUserId(): Promise<{ id: string; sessionVersion: unknown } | undefined> {
  const ring = keyRingFromEnv(getEnv());
  if (!ring) return undefined;
  const store = await cookies();
  for (const name of [sessionCookieName()]) {
    // next-auth splits a cookie over 4 KB into `name.0`, `name.1`, …
    const raw =
      store.get(name)?.value ??
      store
        .getAll()
        .filter((cookie) => cookie.name.startsWith(`${name}.`))
        .sort((a, b) => Number(a.name.slice(name.length + 1)) - Number(b.name.slice(name.length + 1)))
        .map((cookie) => cookie.value)
        .join("");
    if (!raw) continue;
    const token = (await decodeSessionToken(raw, ring))?.payload;
    return typeof token?.sub === "string" ? { id: token.sub, sessionVersion: token.sv } : undefined;
  }
  return undefined;
}

/** For route handlers and actions: the user, or a 401. */
export async function requireUser(): Promise<SessionUser> {
  const user = await getSessionUser();
  if (!user) throw new AppError("unauthorized", "Sign in to continue.");
  return user;
}

/** For admin route handlers: 401 without a session, 403 for a signed-in non-admin. */
export async function requireAdmin(): Promise<SessionUser> {
  const user = await requireUser();
  if (user.role !== "admin") throw new AppError("forbidden", "This needs an administrator account.");
  return user;
}

/** For pages: the user, or a redirect to the sign-in page. */
export async function requireUserPage(callbackPath = "/dashboard"): Promise<SessionUser> {
  const user = await getSessionUser();
  if (!user) redirect(`/sign-in?callbackUrl=${encodeURIComponent(callbackPath)}`);
  return user;
}

/** For admin pages: a non-admin sees a 404, as if the page did not exist. */
export async function requireAdminPage(callbackPath = "/admin"): Promise<SessionUser> {
  const user = await requireUserPage(callbackPath);
  if (user.role !== "admin") notFound();
  return user;
}

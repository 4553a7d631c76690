import { getServerSession } from "next-auth";
import { notFound, redirect } from "next/navigation";
import { getDb } from "@/db";
import { AppError } from "@/lib/errors";
import { getUserById, toSessionUser, type SessionUser } from "@/lib/users/users";
import { getAuthOptions } from "./options";

/**
 * The signed-in user, read fresh from the database (so a changed role or a deleted account takes
 * effect at once), or undefined when there is no valid session.
 */
export async function getSessionUser(): Promise<SessionUser | undefined> {
  const session = await getServerSession(getAuthOptions()).catch(() => null);
  const id = (session?.user as { id?: string } | undefined)?.id;
  if (!id || !/^[0-9a-f-]{36}$/i.test(id)) return undefined;
  const row = await getUserById(await getDb(), id);
  return row ? toSessionUser(row) : undefined;
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

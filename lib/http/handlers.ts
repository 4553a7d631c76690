import { timingSafeEqual, createHash } from "node:crypto";
import { requireAdmin, requireUser } from "@/lib/auth/session";
import { assertSigningSecret } from "@/lib/keys/signing-secret";
import { AppError } from "@/lib/errors";
import { getEnv, type Env } from "@/lib/env";
import type { SessionUser } from "@/lib/users/users";
import { toErrorResponse } from "./errors";

type RouteParams = Record<string, string | string[] | undefined>;
export interface RouteContext {
  params: Promise<RouteParams>;
}

interface HandlerArgs {
  request: Request;
  params: RouteParams;
}

type Handler<Extra> = (args: HandlerArgs & Extra) => Promise<Response>;
type RouteHandler = (request: Request, context: RouteContext) => Promise<Response>;

/** Runs a handler and turns every throw into the one error shape (see toErrorResponse). */
export function withErrorHandling(handler: Handler<object>): RouteHandler {
  return async (request, context) => {
    try {
      const params = (await context?.params) ?? {};
      return await handler({ request, params });
    } catch (error) {
      return toErrorResponse(error);
    }
  };
}

/** Signed-in users; the user is read from the database on every request. */
export function withUser(handler: Handler<{ user: SessionUser }>): RouteHandler {
  return withErrorHandling(async (args) => handler({ ...args, user: await requireUser() }));
}

/** Signed-in admins (role from the database row): 401 anonymous, 403 non-admin. */
export function withAdmin(handler: Handler<{ user: SessionUser }>): RouteHandler {
  return withErrorHandling(async (args) => handler({ ...args, user: await requireAdmin() }));
}

/** Internal services: `Authorization: Bearer $INTERNAL_API_SECRET`. */
export function withInternalAuth(handler: Handler<object>): RouteHandler {
  return withErrorHandling(async (args) => {
    requireBearerSecret(args.request, "INTERNAL_API_SECRET");
    return handler(args);
  });
}

/** The scheduler: `Authorization: Bearer $CRON_SECRET`. */
export function withCronAuth(handler: Handler<object>): RouteHandler {
  return withErrorHandling(async (args) => {
    requireBearerSecret(args.request, "CRON_SECRET");
    return handler(args);
  });
}

export function bearerToken(request: Request): string | undefined {
  const header = request.headers.get("authorization") ?? "";
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/**
 * Compares the bearer token with a configured secret in constant time (both sides hashed first so
 * lengths never leak). A missing secret is a 503 before any work: the route is not usable.
 */
function requireBearerSecret(request: Request, name: keyof Pick<Env, "INTERNAL_API_SECRET" | "CRON_SECRET">): void {
  const expected = getEnv()[name];
  if (!expected) throw new AppError("misconfigured", `This route is disabled: ${name} is not configured.`);
  const given = bearerToken(request);
  if (!given) throw new AppError("unauthorized", "Send Authorization: Bearer <secret>.");
  const digest = (value: string) => createHash("sha256").update(value).digest();
  if (!timingSafeEqual(digest(given), digest(expected))) {
    throw new AppError("unauthorized", "The bearer token is not valid for this route.");
  }
}

/** Routes that mint or verify keys call this first (503 `misconfigured` without NEXTAUTH_SECRET). */
export function requireSigningSecret(): string {
  return assertSigningSecret(getEnv().NEXTAUTH_SECRET);
}

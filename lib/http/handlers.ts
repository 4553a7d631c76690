import { timingSafeEqual, createHash } from "node:crypto";
import { requireAdmin, requireUser } from "@/lib/auth/session";
import { assertKeyRing } from "@/lib/keys/signing-secret";
import type { KeyRing } from "@/lib/tokens/key-ring";
import { AppError } from "@/lib/errors";
import { getEnv, type Env } from "@/shared/env";
import { keyRingFromEnv } from "@/lib/tokens/configured";
import type { SessionUser } from "@/lib/users/users";
import { originOf, rejectCrossSiteRequest } from "./csrf";
import { errorResponse, toErrorResponse } from "./errors";

type RouteParams = Record<string, string | string[] | undefined>;
export interface RouteContext {
  params: Promise<RouteParams>;
}

interface HandlerArgs {
  request: Request;
  params: RouteParams;
}

type Handler<Extra> = (args: HandlerArgs & Extra) => Promise<Response>;
export type RouteHandler = (request: Request, context: RouteContext) => Promise<Response>;

export interface RouteOptions {
  /**
   * The route mints API keys (start, redeploy, provision, refresh): without NEXTAUTH_SECRET it answers
   * `503 misconfigured` before authentication and before any work.
   */
  mints?: boolean;
}

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

/**
 * Signed-in users; the user is read from the database on every request. State-changing methods
 * must also be same-origin JSON (`403 csrf_rejected`, lib/http/csrf.ts), checked right after the
 * session and before the handler runs, so a cross-site request never reaches any work.
 */
export function withUser(handler: Handler<{ user: SessionUser }>, options: RouteOptions = {}): RouteHandler {
  return withErrorHandling(async (args) => {
    if (options.mints) requireKeyRing();
    const user = await requireUser();
    rejectCrossSiteRequest(args.request, originOf(getEnv().NEXTAUTH_URL));
    return handler({ ...args, user });
  });
}

/** Signed-in admins (role from the database row): 401 anonymous, 403 non-admin; CSRF as withUser. */
export function withAdmin(handler: Handler<{ user: SessionUser }>, options: RouteOptions = {}): RouteHandler {
  return withErrorHandling(async (args) => {
    if (options.mints) requireKeyRing();
    const user = await requireAdmin();
    rejectCrossSiteRequest(args.request, originOf(getEnv().NEXTAUTH_URL));
    return handler({ ...args, user });
  });
}

/** Internal services: `Authorization: Bearer $INTERNAL_API_SECRET` (503 while the secret is unset). */
export function withInternalAuth(handler: Handler<object>, options: RouteOptions = {}): RouteHandler {
  return withErrorHandling(async (args) => {
    const expected = requireConfiguredSecret("INTERNAL_API_SECRET");
    if (options.mints) requireKeyRing();
    requireBearerSecret(args.request, expected);
    return handler(args);
  });
}

/** The scheduler: `Authorization: Bearer $CRON_SECRET` (503 while the secret is unset). */
export function withCronAuth(handler: Handler<object>, options: RouteOptions = {}): RouteHandler {
  return withErrorHandling(async (args) => {
    const expected = requireConfiguredSecret("CRON_SECRET");
    if (options.mints) requireKeyRing();
    requireBearerSecret(args.request, expected);
    return handler(args);
  });
}

/**
 * Prometheus: `Authorization: Bearer $METRICS_TOKEN` (401 without it). While METRICS_TOKEN is
 * unset the route does not exist (404), so an unconfigured deployment exposes nothing.
 */
export function withMetricsAuth(handler: Handler<object>): RouteHandler {
  return withErrorHandling(async (args) => {
    const expected = getEnv().METRICS_TOKEN;
    if (!expected) throw new AppError("not_found", "Not found.");
    requireBearerSecret(args.request, expected);
    return handler(args);
  });
}

export function bearerToken(request: Request): string | undefined {
  const header = request.headers.get("authorization") ?? "";
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

type BearerSecretName = keyof Pick<Env, "INTERNAL_API_SECRET" | "CRON_SECRET">;

/** A route whose secret is not configured is not usable: 503 before any work. */
function requireConfiguredSecret(name: BearerSecretName): string {
  const expected = getEnv()[name];
  if (!expected) throw new AppError("misconfigured", `This route is disabled: ${name} is not configured.`);
  return expected;
}

/** Compares the bearer token with the secret in constant time (both sides hashed first so lengths never leak). */
function requireBearerSecret(request: Request, expected: string): void {
  const given = bearerToken(request);
  if (!given) throw new AppError("unauthorized", "Send Authorization: Bearer <secret>.");
  const digest = (value: string) => createHash("sha256").update(value).digest();
  if (!timingSafeEqual(digest(given), digest(expected))) {
    throw new AppError("unauthorized", "The bearer token is not valid for this route.");
  }
}

/** Routes that mint or verify keys call this first (503 `misconfigured` without NEXTAUTH_SECRET). */
export function requireKeyRing(): KeyRing {
  return assertKeyRing(keyRingFromEnv(getEnv()));
}

const HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** Marks the handlers methodNotAllowed builds, so tests can tell them from real ones. */
export const METHOD_NOT_ALLOWED = Symbol.for("fleetdeck.http.methodNotAllowed");

/**
 * Handlers for every method a route does not implement: `405 method_not_allowed` in the one error
 * shape, with an `Allow` header (Next's own 405 has an empty body). Spread into the route's exports:
 * `export const { GET, PUT, PATCH, DELETE } = methodNotAllowed("POST");`
 */
export function methodNotAllowed<const Allowed extends HttpMethod[]>(
  ...allowed: Allowed
): Record<Exclude<HttpMethod, Allowed[number]>, RouteHandler> {
  const allow = [...allowed, ...(allowed.includes("GET") ? ["HEAD"] : []), "OPTIONS"].join(", ");
  const handler: RouteHandler = async (request) =>
    errorResponse("method_not_allowed", `${request.method} is not supported here. Use ${allowed.join(" or ")}.`, {
      headers: { allow },
    });
  Object.defineProperty(handler, METHOD_NOT_ALLOWED, { value: true });
  const handlers: Partial<Record<HttpMethod, RouteHandler>> = {};
  for (const method of HTTP_METHODS) if (!allowed.includes(method)) handlers[method] = handler;
  return handlers as Record<Exclude<HttpMethod, Allowed[number]>, RouteHandler>;
}

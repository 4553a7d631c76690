import type { ActionResult } from "@/lib/actions/result";

/**
 * The browser's one way to the server: GET routes for reads (what the hooks poll), server actions
 * for writes (their result unwrapped). Whatever goes wrong — a refused request, a lost session, no
 * network — reaches the UI as a ServerError carrying the server's own code and message.
 */

const SERVER_ERROR = Symbol.for("fleetdeck.server-error");

/** A failure the server explained: its code and its own message, shown to the user as is. */
export class ServerError extends Error {
  readonly [SERVER_ERROR] = true;

  constructor(
    readonly code: string,
    message: string,
    readonly fields?: Record<string, string[]>,
    /** When the failure came back (ms), so the UI can show the outcome for a moment. */
    readonly finishedAt = Date.now(),
  ) {
    super(message);
    this.name = "ServerError";
  }
}

/** True for a ServerError from any copy of this module (recognised by its brand, not its class). */
export function isServerError(error: unknown): error is ServerError {
  return typeof error === "object" && error !== null && (error as { [SERVER_ERROR]?: unknown })[SERVER_ERROR] === true;
}

/** True when the server said the thing asked for does not exist (or is not the caller's). */
export function isNotFound(error: unknown): boolean {
  return isServerError(error) && error.code === "not_found";
}

function unreachable(error: unknown): ServerError {
  return new ServerError(
    "unreachable",
    error instanceof Error ? `The request did not reach the server (${error.message}).` : "The request did not reach the server.",
  );
}

/**
 * GETs a route's JSON body. A non-2xx answer becomes a ServerError with the body's
 * `{error: {code, message}}` (or `unavailable` when there is none); a redirect to the sign-in page
 * (the session ended) becomes `unauthorized`; a request that never arrived, `unreachable`.
 */
export async function getJson<T>(url: string): Promise<T> {
  let response: Response;
  try {
    response = await fetch(url, { headers: { accept: "application/json" }, cache: "no-store" });
  } catch (error) {
    throw unreachable(error);
  }
  if (response.redirected && new URL(response.url).pathname === "/sign-in") {
    throw new ServerError("unauthorized", "Your session has ended. Sign in again.");
  }
  const body = (await response.json().catch(() => undefined)) as { error?: { code: string; message: string } } | undefined;
  if (!response.ok || !body || body.error) {
    throw new ServerError(body?.error?.code ?? "unavailable", body?.error?.message ?? `The server answered ${response.status}.`);
  }
  return body as T;
}

/**
 * Calls a server action and returns its data; an `{ ok: false }` result becomes a ServerError with
 * its code, message and field errors, and an action that could not be reached (network, a deploy
 * in progress) becomes `unreachable`.
 */
export async function callAction<T>(action: () => Promise<ActionResult<T>>): Promise<T> {
  let result: ActionResult<T>;
  try {
    result = await action();
  } catch (error) {
    throw unreachable(error);
  }
  if (!result.ok) throw new ServerError(result.error.code, result.error.message, result.error.fields);
  return result.data;
}

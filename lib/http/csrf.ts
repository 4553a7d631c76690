import { AppError } from "@/lib/errors";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Refuses cross-site requests to state-changing routes authorised by the session cookie
 * (`403 csrf_rejected`). A request passes only when it is JSON — `Content-Type: application/json`,
 * empty bodies included, which a plain HTML form cannot send (forms send text/plain, urlencoded or
 * multipart) — and same-origin: `Origin` equal to the app's origin, or the browser's own
 * `Sec-Fetch-Site: same-origin`. SameSite=Lax alone would let a sibling subdomain's form through,
 * since it is the same site. Safe methods pass untouched; bearer routes never call this.
 *
 * `appOrigin` is the configured NEXTAUTH_URL's origin; without one (development) the request's
 * own URL stands in.
 */
export function rejectCrossSiteRequest(request: Request, appOrigin: string | undefined): void {
  if (SAFE_METHODS.has(request.method)) return;
  const mediaType = (request.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (mediaType !== "application/json") {
    throw new AppError("csrf_rejected", "This request must be sent as application/json from the app itself.");
  }
  const origin = request.headers.get("origin");
  const expected = appOrigin ?? new URL(request.url).origin;
  const sameOrigin = origin === expected || request.headers.get("sec-fetch-site") === "same-origin";
  if (!sameOrigin) throw new AppError("csrf_rejected", "Cross-site requests are refused. Use the app's own pages.");
}

/** The origin (`scheme://host[:port]`) of a configured URL, or undefined when there is none. */
export function originOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

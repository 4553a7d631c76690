import { errorResponse } from "./errors";

/**
 * Next answers a bare `500 Internal Server Error` when a dynamic route segment holds a malformed
 * percent-encoding (`/api/instances/%E0%A4%A/status`): its own decode error is not recognised
 * inside the app bundle. The proxy calls this for /api paths first, so such a request gets a 400 in
 * the API's error shape instead. Undefined for every well-formed path.
 */
export function rejectMalformedApiPath(pathname: string): Response | undefined {
  if (!pathname.includes("%")) return undefined;
  try {
    for (const segment of pathname.split("/")) decodeURIComponent(segment);
    return undefined;
  } catch {
    return errorResponse("bad_request", "The request path is not validly percent-encoded.");
  }
}

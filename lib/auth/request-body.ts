import { AppError } from "@/lib/errors";
import { readLimitedText } from "@/lib/http/body";

/**
 * The body of a POST to next-auth's endpoints, checked before next-auth sees it: at most 64 KiB
 * (413), a form (`application/x-www-form-urlencoded`, what its client sends) or a JSON object —
 * anything else non-empty is 415, and malformed JSON 400. next-auth itself would read an unbounded
 * body and fail on malformed JSON with a 500. Returns the text, for a fresh request to carry.
 */
export async function readAuthRequestBody(request: Request): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > 64 * 1024) throw new AppError("payload_too_large", "The request body is larger than 64 KiB.");
  const text = await readLimitedText(request);
  if (text === "") return text;
  const mediaType = (request.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (mediaType === "application/x-www-form-urlencoded") return text;
  if (mediaType !== "application/json") {
    throw new AppError("unsupported_media_type", "Send the form as application/x-www-form-urlencoded or application/json.");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new AppError("bad_request", "The request body is not valid JSON.");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new AppError("bad_request", "The request body must be a JSON object.");
  }
  return text;
}

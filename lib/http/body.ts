import type { z } from "zod";
import { AppError } from "@/lib/errors";
import { jsonHasControlCharacters } from "@/lib/validation/text";

export const MAX_BODY_BYTES = 64 * 1024;

/**
 * Reads and validates a JSON body. Too large → 413, not JSON → 415/400, wrong shape → ZodError
 * (422 through the error mapper), a control character in any string → 400. An empty body parses as
 * `{}` so optional-only bodies may be omitted.
 */
export async function readJsonBody<Schema extends z.ZodType>(
  request: Request,
  schema: Schema,
): Promise<z.infer<Schema>> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  const text = await readLimitedText(request);
  if (text.trim() === "") return schema.parse({});
  const contentType = request.headers.get("content-type") ?? "";
  if (contentType && !/^application\/(.+\+)?json\b/i.test(contentType)) {
    throw new AppError("unsupported_media_type", "Send the request body as application/json.");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new AppError("bad_request", "The request body is not valid JSON.");
  }
  if (jsonHasControlCharacters(parsed)) throw new AppError("bad_request", "The request body holds control characters.");
  return schema.parse(parsed);
}

/** The body as text, at most MAX_BODY_BYTES (413 beyond, whatever Content-Length claimed). */
export async function readLimitedText(request: Request): Promise<string> {
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

function tooLarge(): AppError {
  return new AppError("payload_too_large", `The request body is larger than ${MAX_BODY_BYTES / 1024} KiB.`);
}

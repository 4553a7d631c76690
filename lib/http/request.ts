import { z } from "zod";
import { AppError } from "@/lib/errors";
import { instanceIdSchema } from "@/lib/instances/schemas";
import { hasControlCharacters } from "@/lib/validation/text";

type RouteParams = Record<string, string | string[] | undefined>;

/**
 * The `[id]` route segment as an instance id. A malformed id is answered like an unknown one
 * (404), so ids are never probed for shape and the answer matches the ownership-scoped queries.
 */
export function instanceIdParam(params: RouteParams): string {
  const parsed = instanceIdSchema.safeParse(params.id);
  if (!parsed.success) throw new AppError("not_found", "No such instance.");
  return parsed.data;
}

/** The `[id]` route segment as a user id; malformed and unknown ids are both 404. */
export function userIdParam(params: RouteParams): string {
  const parsed = z.uuid().safeParse(params.id);
  if (!parsed.success) throw new AppError("not_found", "No such user.");
  return parsed.data;
}

/** The body of routes that take none: empty, or `{}`. Anything else is a client mistake (400/413/415/422). */
export const emptyBodySchema = z.strictObject({});

/**
 * Parses the query string with `schema` (ZodError → 422). Parameters named in `lists` may repeat
 * or hold comma-separated values and arrive as arrays; any other parameter given twice arrives as
 * an array too, which a scalar schema rejects instead of silently picking one. A control character
 * in any name or value is a 400 before the schema runs.
 */
export function readQuery<Schema extends z.ZodType>(
  request: Request,
  schema: Schema,
  options: { lists?: readonly string[] } = {},
): z.infer<Schema> {
  const params = new URL(request.url).searchParams;
  for (const [name, value] of params) {
    if (hasControlCharacters(name) || hasControlCharacters(value)) {
      throw new AppError("bad_request", "Query parameters must not hold control characters.");
    }
  }
  const raw: Record<string, string | string[]> = {};
  for (const name of new Set(params.keys())) {
    const values = params.getAll(name);
    if (options.lists?.includes(name)) {
      raw[name] = values.flatMap((value) => value.split(",")).map((value) => value.trim()).filter(Boolean);
    } else {
      raw[name] = values.length === 1 ? values[0]! : values;
    }
  }
  return schema.parse(raw);
}

/** Parses the named request headers with `schema` (ZodError → 422); absent headers are undefined. */
export function readHeaders<Schema extends z.ZodObject>(request: Request, schema: Schema): z.infer<Schema> {
  const raw: Record<string, string | undefined> = {};
  for (const name of Object.keys(schema.shape)) raw[name] = request.headers.get(name) ?? undefined;
  return schema.parse(raw);
}

/**
 * C0 control characters and DEL. No text this app accepts (names, search terms, cursors, ids,
 * emails) has a use for them, and a NUL byte is refused by Postgres itself (`invalid byte
 * sequence`), which would otherwise surface as a 500 deep inside a query.
 */
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

export function hasControlCharacters(value: string): boolean {
  return CONTROL_CHARACTERS.test(value);
}

/** True when any string inside a parsed JSON value (keys included) holds a control character. */
export function jsonHasControlCharacters(value: unknown, depth = 0): boolean {
  if (typeof value === "string") return hasControlCharacters(value);
  if (depth > 64 || value === null || typeof value !== "object") return false;
  if (Array.isArray(value)) return value.some((item) => jsonHasControlCharacters(item, depth + 1));
  return Object.entries(value).some(([key, item]) => hasControlCharacters(key) || jsonHasControlCharacters(item, depth + 1));
}

export const NO_CONTROL_CHARACTERS = { message: "Control characters are not allowed here" } as const;

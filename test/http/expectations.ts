import { expect } from "vitest";
import type { z } from "zod";
import { errorBodySchema } from "@/lib/openapi/schemas";
import type { RecordedResponse } from "./api-server";

/** The response is an error in the one shape, with this status (and code, when given). */
export function expectError(response: RecordedResponse, status: number, code?: string): void {
  const where = `${response.method} ${response.path}`;
  expect(response.status, `${where}: ${response.text.slice(0, 300)}`).toBe(status);
  const parsed = errorBodySchema.safeParse(response.body);
  expect(parsed.success, `${where} answered ${response.text.slice(0, 300)}`).toBe(true);
  if (code) expect(parsed.data?.error.code, where).toBe(code);
}

/** The response is a success with this status whose body matches the documented schema exactly. */
export function expectBody<Schema extends z.ZodType>(response: RecordedResponse, schema: Schema, status = 200): z.output<Schema> {
  const where = `${response.method} ${response.path}`;
  expect(response.status, `${where}: ${response.text.slice(0, 500)}`).toBe(status);
  const parsed = schema.safeParse(response.body);
  if (!parsed.success) throw new Error(`${where}: the body does not match its schema: ${parsed.error.message}\n${response.text.slice(0, 1000)}`);
  return parsed.data;
}

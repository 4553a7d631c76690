import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { openDatabase } from "@/db/client";
import { isDatabaseUnavailable } from "@/db/errors";
import { createTestDatabase, realPostgresDrivers, type TestDatabase } from "@/test/db";
import { resetEnvForTests } from "@/shared/env";
import { AppError } from "@/lib/errors";
import { readJsonBody } from "./body";
import { errorResponse, toErrorResponse } from "./errors";
import { rejectCrossSiteRequest } from "./csrf";
import { METHOD_NOT_ALLOWED, methodNotAllowed, withCronAuth, withInternalAuth, withUser, type RouteHandler } from "./handlers";
import { rejectMalformedApiPath } from "./malformed-path";
import { instanceIdParam, readHeaders, readQuery } from "./request";

const context = { params: Promise.resolve({}) };
const secret = () => randomBytes(32).toString("hex");

async function answer(handler: RouteHandler, init: RequestInit & { url?: string } = {}) {
  const response = await handler(new Request(init.url ?? "http://localhost/api/x", init), context);
  return { status: response.status, headers: response.headers, body: (await response.json()) as { error?: { code: string; message: string } } };
}

describe("auth wrappers", () => {
  const saved = { ...process.env };
  let calls = 0;
  const handler = async () => {
    calls++;
    return Response.json({ ok: true });
  };

  beforeEach(() => {
    calls = 0;
    // No route here may reach a database; make sure an accident could not open a real one.
    process.env.PGLITE_DIR = "memory://handlers-test";
    delete process.env.DATABASE_URL;
  });

  afterEach(() => {
    process.env = { ...saved };
    resetEnvForTests();
  });

  it.each([
    ["INTERNAL_API_SECRET", withInternalAuth],
    ["CRON_SECRET", withCronAuth],
  ] as const)("%s unset: 503 misconfigured before authentication; set: constant-time bearer check", async (name, wrap) => {
    delete process.env[name];
    resetEnvForTests();
    const route = wrap(handler);
    for (const headers of [{}, { authorization: "Bearer anything" }] as Record<string, string>[]) {
      const { status, body } = await answer(route, { headers });
      expect(status).toBe(503);
      expect(body.error).toEqual({ code: "misconfigured", message: expect.stringContaining(name) });
    }

    const value = secret();
    process.env[name] = value;
    resetEnvForTests();
    for (const authorization of [undefined, "Bearer", `Bearer ${value}x`, `Basic ${value}`, `Bearer ${value.slice(1)}`, `Bearer ${value} extra`]) {
      const { status, body } = await answer(route, { headers: authorization ? { authorization } : {} });
      expect(status, authorization).toBe(401);
      expect(body.error?.code).toBe("unauthorized");
    }
    expect(calls).toBe(0);
    expect((await answer(route, { headers: { authorization: `bearer   ${value}` } })).status).toBe(200);
    expect(calls).toBe(1);
  });

  it("minting routes answer 503 misconfigured without NEXTAUTH_SECRET before any credential is looked at", async () => {
    process.env.INTERNAL_API_SECRET = secret();
    process.env.CRON_SECRET = secret();
    process.env.NEXTAUTH_SECRET = "";
    resetEnvForTests();
    for (const route of [
      withUser(handler, { mints: true }),
      withInternalAuth(handler, { mints: true }),
      withCronAuth(handler, { mints: true }),
    ]) {
      const { status, body } = await answer(route);
      expect(status).toBe(503);
      expect(body.error).toEqual({ code: "misconfigured", message: expect.stringContaining("NEXTAUTH_SECRET") });
    }
    // Routes that do not mint still authenticate normally.
    expect((await answer(withInternalAuth(handler), { headers: { authorization: `Bearer ${process.env.INTERNAL_API_SECRET}` } })).status).toBe(200);
    expect(calls).toBe(1);
  });
});

describe("methodNotAllowed", () => {
  it("answers 405 in the error shape with an Allow header, for exactly the other methods", async () => {
    const handlers = methodNotAllowed("GET");
    expect(Object.keys(handlers).sort()).toEqual(["DELETE", "PATCH", "POST", "PUT"]);
    const { status, headers, body } = await answer(handlers.POST, { method: "POST" });
    expect(status).toBe(405);
    expect(headers.get("allow")).toBe("GET, HEAD, OPTIONS");
    expect(body.error).toEqual({ code: "method_not_allowed", message: "POST is not supported here. Use GET." });
    expect((handlers.POST as unknown as Record<symbol, boolean>)[METHOD_NOT_ALLOWED]).toBe(true);
    expect(methodNotAllowed("POST").GET).toBeDefined();
    expect(Object.keys(methodNotAllowed("DELETE")).sort()).toEqual(["GET", "PATCH", "POST", "PUT"]);
  });
});

describe("request parsing", () => {
  const request = (url: string, init?: RequestInit) => new Request(`http://localhost${url}`, init);

  it("instanceIdParam: a malformed id is the same 404 as an unknown one", () => {
    const id = "0b9c8f3e-7a55-4e55-9f3e-2b1d1c0e9a11";
    expect(instanceIdParam({ id })).toBe(id);
    for (const bad of [undefined, "", "nope", `${id}x`, [id], id.toUpperCase().replace("-", "")]) {
      expect(() => instanceIdParam({ id: bad })).toThrow(expect.objectContaining({ code: "not_found" }));
    }
  });

  it("readQuery: list parameters repeat or take commas; anything else given twice is rejected", () => {
    const schema = z.strictObject({ tags: z.array(z.string()).optional(), limit: z.coerce.number().optional() });
    expect(readQuery(request("/x?tags=a,b&tags=c&limit=3"), schema, { lists: ["tags"] })).toEqual({ tags: ["a", "b", "c"], limit: 3 });
    expect(readQuery(request("/x?tags="), schema, { lists: ["tags"] })).toEqual({ tags: [] });
    expect(() => readQuery(request("/x?limit=1&limit=2"), schema, { lists: ["tags"] })).toThrow(z.ZodError);
    expect(() => readQuery(request("/x?other=1"), schema, { lists: ["tags"] })).toThrow(z.ZodError);
  });

  it("readHeaders: named headers, absent ones undefined", () => {
    const schema = z.object({ "Idempotency-Key": z.string().optional() });
    expect(readHeaders(request("/x", { headers: { "idempotency-key": "k" } }), schema)).toEqual({ "Idempotency-Key": "k" });
    expect(readHeaders(request("/x"), schema)).toEqual({});
  });

  it("readJsonBody: a streamed body over 64 KiB is 413 even without Content-Length", async () => {
    const chunk = new Uint8Array(16 * 1024).fill(0x20);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 8) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const streamed = new Request("http://localhost/x", { method: "POST", body, duplex: "half" } as RequestInit);
    await expect(readJsonBody(streamed, z.object({}))).rejects.toMatchObject({ code: "payload_too_large" });
  });

  it("rejectMalformedApiPath: 400 in the error shape for broken percent-encodings only", async () => {
    for (const path of ["/api/instances/abc/status", "/api/instances/%20/status", "/api/x%25y", "/api/%F0%9F%98%80"]) {
      expect(rejectMalformedApiPath(path), path).toBeUndefined();
    }
    for (const path of ["/api/instances/%E0%A4%A/status", "/api/%", "/api/%zz", "/api/%C0%AF"]) {
      const response = rejectMalformedApiPath(path);
      expect(response?.status, path).toBe(400);
      expect(await response!.json()).toEqual({ error: { code: "bad_request", message: expect.any(String) } });
    }
  });
});

describe("error responses", () => {
  it("are never cached, and an unexpected error says nothing about its cause", async () => {
    expect(errorResponse("not_found", "No.").headers.get("cache-control")).toBe("no-store");
    const saved = process.env.FLEETDECK_LOG_LEVEL;
    process.env.FLEETDECK_LOG_LEVEL = "silent";
    try {
      const response = toErrorResponse(new Error("connect ECONNREFUSED 10.0.0.5:5432 password=hunter2"));
      expect(response.status).toBe(500);
      const text = await response.text();
      expect(text).not.toMatch(/ECONNREFUSED|hunter2|5432/);
    } finally {
      process.env.FLEETDECK_LOG_LEVEL = saved;
    }
    expect(toErrorResponse(new AppError("operation_in_progress", "busy")).status).toBe(409);
  });
});

describe("database outages in the error mapper", () => {
  const quietly = async <T>(work: () => Promise<T>): Promise<T> => {
    const saved = process.env.FLEETDECK_LOG_LEVEL;
    process.env.FLEETDECK_LOG_LEVEL = "silent";
    try {
      return await work();
    } finally {
      process.env.FLEETDECK_LOG_LEVEL = saved;
    }
  };
  const failure = (promise: Promise<unknown>) => promise.then(() => new Error("expected a failure"), (error: unknown) => error);

  it("a database nobody answers for is 503 database_unavailable with Retry-After; other errors stay 500", async () => {
    // A port nothing listens on: the driver's real ECONNREFUSED, wrapped as drizzle wraps it.
    const unreachable = await openDatabase({ url: "postgres://postgres@127.0.0.1:1/none", driver: "postgres", timeouts: { connectMs: 1_000 } });
    try {
      const error = await failure(unreachable.db.execute(sql`select 1`));
      expect(isDatabaseUnavailable(error)).toBe(true);
      const response = await quietly(async () => toErrorResponse(error));
      expect(response.status).toBe(503);
      expect(response.headers.get("retry-after")).toMatch(/^\d+$/);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe("database_unavailable");
    } finally {
      await unreachable.close();
    }
    expect(isDatabaseUnavailable(new Error("Connection terminated unexpectedly"))).toBe(false);
    expect((await quietly(async () => toErrorResponse(new Error("Connection terminated unexpectedly")))).status).toBe(500);
  });

  describe.each(realPostgresDrivers())("on %s", (driver) => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(driver);
    });
    afterAll(async () => {
      await database?.close();
    });

    it("a connection killed inside a transaction is unavailability (no uncaught exception); a bad statement is not", async () => {
      const uncaught: unknown[] = [];
      const record = (error: unknown) => uncaught.push(error);
      process.on("uncaughtException", record);
      try {
        const killed = await failure(
          database.db.transaction(async (tx) => {
            await tx.execute(sql`select pg_terminate_backend(pg_backend_pid())`);
          }),
        );
        expect(isDatabaseUnavailable(killed)).toBe(true);
        expect((await quietly(async () => toErrorResponse(killed))).status).toBe(503);
        const syntax = await failure(database.db.execute(sql`select from where`));
        expect(isDatabaseUnavailable(syntax)).toBe(false);
        expect((await quietly(async () => toErrorResponse(syntax))).status).toBe(500);
        // The pool recovers on its own.
        expect(await database.db.execute(sql`select 1 as one`)).toBeTruthy();
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(uncaught).toEqual([]);
      } finally {
        process.off("uncaughtException", record);
      }
    });
  });
});

describe("rejectCrossSiteRequest", () => {
  const app = "https://fleet.example.com";
  const call = (method: string, headers: Record<string, string>) => () =>
    rejectCrossSiteRequest(new Request(`${app}/api/instances/x/stop`, { method, headers }), app);

  it("lets same-origin JSON through: Origin equal to the app's, or Sec-Fetch-Site: same-origin", () => {
    expect(call("POST", { "content-type": "application/json", origin: app })).not.toThrow();
    expect(call("POST", { "content-type": "application/json; charset=utf-8", "sec-fetch-site": "same-origin" })).not.toThrow();
    expect(call("GET", {})).not.toThrow();
  });

  it.each([
    ["a text/plain form", { "content-type": "text/plain", origin: app }],
    ["an urlencoded form", { "content-type": "application/x-www-form-urlencoded", "sec-fetch-site": "same-origin" }],
    ["a multipart form", { "content-type": "multipart/form-data; boundary=x", origin: app }],
    ["no content type", { origin: app }],
    ["JSON from a sibling subdomain", { "content-type": "application/json", origin: "https://evil.example.com", "sec-fetch-site": "same-site" }],
    ["JSON from an opaque origin", { "content-type": "application/json", origin: "null" }],
    ["JSON with neither header", { "content-type": "application/json" }],
    ["JSON over http to an https app", { "content-type": "application/json", origin: "http://fleet.example.com" }],
  ])("refuses %s with 403 csrf_rejected", (_, headers) => {
    for (const method of ["POST", "PATCH", "DELETE", "PUT"]) {
      try {
        call(method, headers)();
        expect.unreachable();
      } catch (error) {
        expect(error).toMatchObject({ code: "csrf_rejected", status: 403 });
      }
    }
  });
});

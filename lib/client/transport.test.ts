import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callAction, getJson, isNotFound, isServerError, ServerError } from "./transport";

// A real HTTP server answering the way the app's routes do: JSON bodies, the error shape, and a
// redirect to the sign-in page once the session has ended.
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((request, response) => {
    const json = (status: number, body: unknown) => response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    switch (request.url) {
      case "/ok":
        return json(200, { instances: [], accept: request.headers.accept });
      case "/missing":
        return json(404, { error: { code: "not_found", message: "No such instance." } });
      case "/broken":
        return response.writeHead(502, { "content-type": "text/html" }).end("<html>bad gateway</html>");
      case "/expired-session":
        return response.writeHead(307, { location: "/sign-in?callbackUrl=%2Fdashboard" }).end();
      case "/sign-in?callbackUrl=%2Fdashboard":
        return response.writeHead(200, { "content-type": "text/html" }).end("<form>sign in</form>");
      default:
        return json(500, {});
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function failureOf(promise: Promise<unknown>): Promise<ServerError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isServerError(error)) throw new Error(`expected a ServerError, got ${String(error)}`);
  return error;
}

describe("getJson", () => {
  it("returns the body of a 2xx answer, asking for JSON", async () => {
    expect(await getJson(`${base}/ok`)).toEqual({ instances: [], accept: "application/json" });
  });

  it("turns the route's error shape into a ServerError with its code and message", async () => {
    const error = await failureOf(getJson(`${base}/missing`));
    expect(error).toMatchObject({ code: "not_found", message: "No such instance." });
    expect(isNotFound(error)).toBe(true);
  });

  it("names the status when the answer has no error body", async () => {
    expect(await failureOf(getJson(`${base}/broken`))).toMatchObject({ code: "unavailable", message: "The server answered 502." });
  });

  it("says the session ended when the request was redirected to the sign-in page", async () => {
    expect(await failureOf(getJson(`${base}/expired-session`))).toMatchObject({ code: "unauthorized" });
  });

  it("says the request did not arrive when nothing listens", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    expect(await failureOf(getJson(`http://127.0.0.1:${port}/ok`))).toMatchObject({ code: "unreachable" });
  });
});

describe("callAction", () => {
  it("returns the data of an ok result", async () => {
    expect(await callAction(async () => ({ ok: true as const, data: { id: "a" } }))).toEqual({ id: "a" });
  });

  it("turns a failed result into a ServerError with its code, message and fields", async () => {
    const error = await failureOf(
      callAction(async () => ({ ok: false as const, error: { code: "validation_failed", message: "Name is too long.", fields: { name: ["Too long"] } } })),
    );
    expect(error).toMatchObject({ code: "validation_failed", message: "Name is too long.", fields: { name: ["Too long"] } });
    expect(error.finishedAt).toBeLessThanOrEqual(Date.now());
  });

  it("turns an action that could not be reached into `unreachable`, with the reason", async () => {
    const error = await failureOf(callAction(() => Promise.reject(new TypeError("Failed to fetch"))));
    expect(error).toMatchObject({ code: "unreachable", message: "The request did not reach the server (Failed to fetch)." });
  });
});

describe("isServerError", () => {
  it("recognises the brand, not the class: a copy from another bundle counts, a look-alike does not", () => {
    const brand = Object.getOwnPropertySymbols(new ServerError("x", "y"))[0]!;
    const fromAnotherBundle = Object.assign(new Error("No such job."), { code: "not_found", [brand]: true });
    expect(isServerError(fromAnotherBundle)).toBe(true);
    expect(isNotFound(fromAnotherBundle)).toBe(true);
    expect(isServerError(Object.assign(new Error("No such job."), { code: "not_found" }))).toBe(false);
    expect(isServerError(null)).toBe(false);
  });
});

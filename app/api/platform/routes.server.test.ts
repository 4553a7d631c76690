/**
 * The internal platform routes (`/api/platform/...`) and the scheduler route
 * (`/api/cron/refresh-keys`) against the production build.
 */
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idempotencyKeys, instances } from "@/db/schema";
import { expectBody, expectError } from "@/test/http/expectations";
import { findKeyMaterial, seedAccount, startApiServer, type ApiServer, type SeededAccount } from "@/test/http/api-server";
import { PROVISION_SCOPE } from "@/lib/platform/provision";
import {
  instanceConfigSchema,
  instanceSchema,
  instanceStatusSchema,
  refreshSummarySchema,
  rotatePepperResultSchema,
} from "@/lib/openapi/schemas";

describe("platform and cron routes (next start)", () => {
  let server: ApiServer;
  let owner: SeededAccount;
  let other: SeededAccount;
  let internal: string;
  let cron: string;
  let failedThenUsedKey: string;

  beforeAll(async () => {
    server = await startApiServer({
      seed: async (db) => {
        [owner, other] = await Promise.all([seedAccount(db, { email: "owner@api.test" }), seedAccount(db, { email: "other@api.test" })]);
      },
    });
    internal = server.secrets.INTERNAL_API_SECRET!;
    cron = server.secrets.CRON_SECRET!;
  }, 240_000);

  afterAll(async () => {
    await server?.close();
  });

  const provision = (body: unknown, headers: Record<string, string> = {}) =>
    server.request("POST", "/api/platform/instances", { bearer: internal, body, headers });

  it("401 without the bearer secret, with a wrong one, another scheme, the cron secret or a user session", async () => {
    const cookie = await server.signIn(owner);
    const id = randomUUID();
    const routes = [
      ["POST", "/api/platform/instances"],
      ["GET", `/api/platform/instances/${id}/status`],
      ["GET", `/api/platform/instances/${id}/config`],
      ["POST", `/api/platform/instances/${id}/start`],
      ["POST", `/api/platform/instances/${id}/stop`],
      ["POST", `/api/platform/instances/${id}/redeploy`],
      ["DELETE", `/api/platform/instances/${id}`],
    ] as const;
    for (const [method, path] of routes) {
      expectError(await server.request(method, path), 401, "unauthorized");
      expectError(await server.request(method, path, { bearer: `${internal}x` }), 401, "unauthorized");
      expectError(await server.request(method, path, { bearer: internal.slice(0, 10) }), 401, "unauthorized");
      expectError(await server.request(method, path, { headers: { authorization: `Basic ${internal}` } }), 401, "unauthorized");
      expectError(await server.request(method, path, { bearer: cron }), 401, "unauthorized");
      expectError(await server.request(method, path, { cookie }), 401, "unauthorized");
    }
    expectError(await server.request("POST", "/api/cron/refresh-keys"), 401, "unauthorized");
    expectError(await server.request("POST", "/api/cron/refresh-keys", { bearer: internal }), 401, "unauthorized");
  });

  it("provisions an instance for a user: 201, Location, the documented shape, name/region/image honoured", async () => {
    const answer = await provision({ userId: owner.row.id, name: "  build box ", region: "ams", imageTag: "v1.2.3" });
    const instance = expectBody(answer, instanceSchema, 201);
    expect(instance).toMatchObject({ name: "build box", region: "ams", imageTag: "v1.2.3", status: "provisioned", machineId: null });
    expect(instance.config).toMatchObject({ keyId: null, keyHealth: "unknown" });
    expect(answer.headers.get("location")).toBe(`/api/platform/instances/${instance.id}/status`);
    expect(answer.headers.get("idempotent-replayed")).toBeNull();
    const defaults = expectBody(await provision({ userId: other.row.id }), instanceSchema, 201);
    expect(defaults).toMatchObject({ name: "gateway", region: "local", imageTag: "latest" });
  });

  it("provision refuses bad input: unknown user 404, wrong types/fields 422, bad JSON 400, wrong media type 415, over 64 KiB 413", async () => {
    expectError(await provision({ userId: randomUUID() }), 404, "not_found");
    for (const body of [
      {},
      { userId: "nope" },
      { userId: 42 },
      { userId: owner.row.id, name: 5 },
      { userId: owner.row.id, name: "" },
      { userId: owner.row.id, name: "x".repeat(65) },
      { userId: owner.row.id, name: "<script>" },
      { userId: owner.row.id, region: "Mars-1" },
      { userId: owner.row.id, imageTag: "../etc" },
      { userId: owner.row.id, admin: true },
      [owner.row.id],
      null,
    ]) {
      expectError(await provision(JSON.stringify(body)), 422, "validation_failed");
    }
    expectError(await provision("{"), 400, "bad_request");
    expectError(await provision(JSON.stringify({ userId: owner.row.id }), { "content-type": "application/x-www-form-urlencoded" }), 415);
    expectError(await provision({ userId: owner.row.id, name: "x".repeat(70 * 1024) }), 413, "payload_too_large");
    for (const key of ["", " ", "has space", "x".repeat(256), "tab\tkey"]) {
      expectError(await provision({ userId: owner.row.id }, { "idempotency-key": key }), 422, "validation_failed");
    }
  });

  it("Idempotency-Key: a retry replays the first answer, racing calls create one instance, another body is 409, a failure is not remembered", async () => {
    const body = { userId: owner.row.id, name: "idempotent" };
    const key = `retry-${randomUUID()}`;
    const first = expectBody(await provision(body, { "Idempotency-Key": key }), instanceSchema, 201);
    const retry = await provision({ name: "idempotent", userId: owner.row.id }, { "Idempotency-Key": key });
    expect(expectBody(retry, instanceSchema, 201).id).toBe(first.id);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expectError(await provision({ ...body, name: "something else" }, { "Idempotency-Key": key }), 409, "conflict");

    const raceKey = `race-${randomUUID()}`;
    const racing = await Promise.all(Array.from({ length: 8 }, () => provision({ userId: other.row.id, name: "raced" }, { "Idempotency-Key": raceKey })));
    const ids = racing.map((answer) => expectBody(answer, instanceSchema, 201).id);
    expect(new Set(ids).size).toBe(1);
    expect(racing.filter((answer) => answer.headers.get("idempotent-replayed") === null)).toHaveLength(1);

    const failingKey = `fail-${randomUUID()}`;
    expectError(await provision({ userId: randomUUID() }, { "Idempotency-Key": failingKey }), 404, "not_found");
    expectBody(await provision({ userId: owner.row.id, name: "after failure" }, { "Idempotency-Key": failingKey }), instanceSchema, 201);
    failedThenUsedKey = failingKey;
  });

  it("drives the whole lifecycle: start, config, redeploy, stop, destroy — and a destroyed instance is 404", async () => {
    const created = expectBody(await provision({ userId: other.row.id, name: "lifecycle" }), instanceSchema, 201);
    const base = `/api/platform/instances/${created.id}`;
    const started = expectBody(await server.request("POST", `${base}/start`, { bearer: internal }), instanceSchema);
    expect(started).toMatchObject({ status: "running" });
    const status = expectBody(await server.request("GET", `${base}/status`, { bearer: internal }), instanceStatusSchema);
    expect(status).toMatchObject({ status: "running", machineId: started.machineId });
    const config = expectBody(await server.request("GET", `${base}/config`, { bearer: internal }), instanceConfigSchema);
    expect(config).toMatchObject({ keyHealth: "ok", keyId: started.config.keyId, deployedKeyId: started.config.keyId, keySource: "minted" });
    const redeployed = expectBody(await server.request("POST", `${base}/redeploy`, { bearer: internal, body: {} }), instanceSchema);
    expect(redeployed.config.keyId).not.toBe(config.keyId);
    expect(expectBody(await server.request("POST", `${base}/stop`, { bearer: internal }), instanceSchema).status).toBe("stopped");
    const destroyed = expectBody(await server.request("DELETE", base, { bearer: internal }), instanceStatusSchema);
    expect(destroyed.status).toBe("destroyed");
    for (const [method, path] of [
      ["GET", `${base}/status`],
      ["GET", `${base}/config`],
      ["POST", `${base}/start`],
      ["DELETE", base],
    ] as const) {
      expectError(await server.request(method, path, { bearer: internal }), 404, "not_found");
    }
  });

  it("unknown and malformed ids are 404 on every id route; bad bodies are refused before any work; other methods 405", async () => {
    for (const id of [randomUUID(), "nope", "1", "%00", "x".repeat(200)]) {
      const base = `/api/platform/instances/${encodeURIComponent(id)}`;
      for (const [method, path] of [
        ["GET", `${base}/status`],
        ["GET", `${base}/config`],
        ["POST", `${base}/start`],
        ["POST", `${base}/stop`],
        ["POST", `${base}/redeploy`],
        ["DELETE", base],
      ] as const) {
        expectError(await server.request(method, path, { bearer: internal }), 404, "not_found");
      }
    }
    const target = expectBody(await provision({ userId: owner.row.id, name: "bad bodies" }), instanceSchema, 201);
    for (const op of ["start", "stop", "redeploy"]) {
      const path = `/api/platform/instances/${target.id}/${op}`;
      expectError(await server.request("POST", path, { bearer: internal, body: "{" }), 400, "bad_request");
      expectError(await server.request("POST", path, { bearer: internal, body: { now: true } }), 422, "validation_failed");
      expectError(await server.request("POST", path, { bearer: internal, body: { pad: "y".repeat(66 * 1024) } }), 413, "payload_too_large");
      for (const method of ["GET", "PUT", "PATCH", "DELETE"]) expectError(await server.request(method, path, { bearer: internal }), 405, "method_not_allowed");
    }
    expect(expectBody(await server.request("GET", `/api/platform/instances/${target.id}/status`, { bearer: internal }), instanceStatusSchema).status).toBe(
      "provisioned",
    );
    for (const method of ["GET", "PUT", "PATCH", "DELETE"]) {
      expectError(await server.request(method, "/api/platform/instances", { bearer: internal }), 405, "method_not_allowed");
    }
    for (const method of ["GET", "POST", "PUT", "PATCH"]) {
      expectError(await server.request(method, `/api/platform/instances/${target.id}`, { bearer: internal }), 405, "method_not_allowed");
    }
  });

  it("cron: a pass with nothing due does nothing; after a pepper rotation the running instance's key is refreshed live, once", async () => {
    const empty = expectBody(await server.request("POST", "/api/cron/refresh-keys", { bearer: cron }), refreshSummarySchema);
    expect(empty).toMatchObject({ claimed: 0, refreshed: 0, failed: 0 });

    const created = expectBody(await provision({ userId: owner.row.id, name: "refresh me" }), instanceSchema, 201);
    const base = `/api/platform/instances/${created.id}`;
    const started = expectBody(await server.request("POST", `${base}/start`, { bearer: internal }), instanceSchema);

    const cookie = await server.signIn(owner);
    expectBody(await server.request("POST", "/api/account/rotate-pepper", { cookie }), rotatePepperResultSchema);

    // The rotation re-keys the running instance itself; a cron pass racing it may take it instead,
    // but the leases let only one of them refresh it.
    const pass = expectBody(await server.request("POST", "/api/cron/refresh-keys", { bearer: cron, body: { limit: 10 } }), refreshSummarySchema);
    expect(pass.failed).toBe(0);
    let refreshed = expectBody(await server.request("GET", `${base}/config`, { bearer: internal }), instanceConfigSchema);
    for (let waited = 0; refreshed.keyHealth !== "ok" && waited < 10_000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      refreshed = expectBody(await server.request("GET", `${base}/config`, { bearer: internal }), instanceConfigSchema);
    }
    expect(refreshed).toMatchObject({ keyHealth: "ok", deployedDiffersFromLatest: false, rekey: null });
    expect(expectBody(await server.request("POST", "/api/cron/refresh-keys", { bearer: cron }), refreshSummarySchema)).toMatchObject({ claimed: 0 });
    expect(refreshed.keyId).not.toBe(started.config.keyId);
    const status = expectBody(await server.request("GET", `${base}/status`, { bearer: internal }), instanceStatusSchema);
    expect(status.status).toBe("running");
    expectBody(await server.request("POST", `${base}/stop`, { bearer: internal }), instanceSchema);
  });

  it("cron refuses bad bodies and other methods", async () => {
    for (const body of [{ limit: "10" }, { limit: 0 }, { limit: 501 }, { limit: 1.5 }, { everything: true }, []]) {
      expectError(await server.request("POST", "/api/cron/refresh-keys", { bearer: cron, body: JSON.stringify(body) }), 422, "validation_failed");
    }
    expectError(await server.request("POST", "/api/cron/refresh-keys", { bearer: cron, body: "{" }), 400, "bad_request");
    expectError(await server.request("POST", "/api/cron/refresh-keys", { bearer: cron, body: { limit: 1, pad: "z".repeat(65 * 1024) } }), 413);
    for (const method of ["GET", "PUT", "PATCH", "DELETE"]) {
      expectError(await server.request(method, "/api/cron/refresh-keys", { bearer: cron }), 405, "method_not_allowed");
    }
  });

  it("no response carried key material; idempotent calls left exactly one instance each", async () => {
    expect(await findKeyMaterial(server)).toEqual([]);
    await server.inspect(async (db) => {
      expect(await db.select().from(instances).where(eq(instances.name, "idempotent"))).toHaveLength(1);
      expect(await db.select().from(instances).where(eq(instances.name, "raced"))).toHaveLength(1);
      const [stored] = await db.select().from(idempotencyKeys).where(eq(idempotencyKeys.key, failedThenUsedKey));
      expect(stored).toMatchObject({ scope: PROVISION_SCOPE, responseStatus: 201 });
      const [created] = await db.select().from(instances).where(eq(instances.name, "after failure"));
      expect(stored!.resourceId).toBe(created!.id);
    });
  });
});

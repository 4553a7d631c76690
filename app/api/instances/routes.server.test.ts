/**
 * The user routes (`/api/instances/...`) against the production build: real sessions through
 * next-auth, real machines (local gateway processes) and a real database.
 */
import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instanceEvents, instances, type InstanceRow } from "@/db/schema";
import { expectBody, expectError } from "@/test/http/expectations";
import { findKeyMaterial, seedAccount, startApiServer, type ApiServer, type SeededAccount } from "@/test/http/api-server";
import { instanceConfigSchema, instanceListSchema, instanceSchema, instanceStatusSchema } from "@/lib/openapi/schemas";

const MALFORMED_IDS = ["nope", "1", "00000000-0000-0000-0000-000000000000", `${randomUUID()}x`, "%20", "' or 1=1 --", "a".repeat(300)];

describe("user instance routes (next start)", () => {
  let server: ApiServer;
  let alice: SeededAccount;
  let bob: SeededAccount;
  let admin: SeededAccount;
  let aliceCookie: string;
  let bobCookie: string;
  let adminCookie: string;
  let running: InstanceRow;
  let idle: InstanceRow;
  let gone: InstanceRow;
  let bobs: InstanceRow;

  beforeAll(async () => {
    server = await startApiServer({
      seed: async (db) => {
        [alice, bob, admin] = await Promise.all([
          seedAccount(db, { email: "alice@api.test" }),
          seedAccount(db, { email: "bob@api.test" }),
          seedAccount(db, { email: "admin@api.test", role: "admin" }),
        ]);
        const values = (ownerId: string, name: string, extra: Partial<InstanceRow> = {}) => ({
          ownerId,
          name,
          provider: "local" as const,
          region: "local",
          imageTag: "latest",
          ...extra,
        });
        const rows = await db
          .insert(instances)
          .values([
            values(alice.row.id, "alice main", { createdAt: new Date(Date.now() - 60_000) }),
            values(alice.row.id, "alice idle"),
            values(alice.row.id, "alice gone", { status: "destroyed", destroyedAt: new Date() }),
            values(bob.row.id, "bob main"),
          ])
          .returning();
        [running, idle, gone, bobs] = rows as [InstanceRow, InstanceRow, InstanceRow, InstanceRow];
      },
    });
    [aliceCookie, bobCookie, adminCookie] = await Promise.all([server.signIn(alice), server.signIn(bob), server.signIn(admin)]);
  }, 240_000);

  afterAll(async () => {
    await server?.close();
  });

  const idRoutes = (id: string) => [
    ["GET", `/api/instances/${id}/status`],
    ["GET", `/api/instances/${id}/config`],
    ["POST", `/api/instances/${id}/start`],
    ["POST", `/api/instances/${id}/stop`],
    ["POST", `/api/instances/${id}/redeploy`],
  ] as const;

  it("every route answers 401 without a session, with a forged cookie or with a service bearer", async () => {
    const routes = [["GET", "/api/instances"] as const, ...idRoutes(idle.id)];
    for (const [method, path] of routes) {
      expectError(await server.request(method, path), 401, "unauthorized");
      expectError(await server.request(method, path, { cookie: "next-auth.session-token=eyJhbGciOiJkaXIifQ..forged.forged.forged" }), 401, "unauthorized");
      expectError(await server.request(method, path, { bearer: server.secrets.INTERNAL_API_SECRET }), 401, "unauthorized");
    }
  });

  it("GET /api/instances lists only the caller's live instances, newest first", async () => {
    const mine = expectBody(await server.request("GET", "/api/instances", { cookie: aliceCookie }), instanceListSchema);
    expect(mine.instances.map((instance) => instance.id)).toEqual([idle.id, running.id]);
    const theirs = expectBody(await server.request("GET", "/api/instances", { cookie: bobCookie }), instanceListSchema);
    expect(theirs.instances.map((instance) => instance.id)).toEqual([bobs.id]);
    const adminsOwn = expectBody(await server.request("GET", "/api/instances", { cookie: adminCookie }), instanceListSchema);
    expect(adminsOwn.instances).toEqual([]);
  });

  it("status and config are separate documents and neither carries the key", async () => {
    const status = expectBody(await server.request("GET", `/api/instances/${idle.id}/status`, { cookie: aliceCookie }), instanceStatusSchema);
    expect(status).toMatchObject({ id: idle.id, status: "provisioned", machineId: null, operation: null });
    expect(Object.keys(status).filter((field) => /key/i.test(field))).toEqual([]);
    const config = expectBody(await server.request("GET", `/api/instances/${idle.id}/config`, { cookie: aliceCookie }), instanceConfigSchema);
    expect(config).toMatchObject({ id: idle.id, keyId: null, keyHealth: "unknown", deployedKeyExpiresAt: null });
    expect(Object.keys(config)).not.toContain("status");
  });

  it("another user's instance, a destroyed one, an unknown id and a malformed id are all 404 — also for an admin on user routes", async () => {
    const cases: [string, string][] = [
      [bobs.id, aliceCookie],
      [running.id, bobCookie],
      [running.id, adminCookie],
      [gone.id, aliceCookie],
      [randomUUID(), aliceCookie],
      ...MALFORMED_IDS.map((id): [string, string] => [encodeURIComponent(id), aliceCookie]),
    ];
    for (const [id, cookie] of cases) {
      for (const [method, path] of idRoutes(id)) expectError(await server.request(method, path, { cookie }), 404, "not_found");
    }
  });

  it("start boots the instance with a minted, confirmed key; start again is a no-op; redeploy mints a new key; stop stops", async () => {
    const started = expectBody(await server.request("POST", `/api/instances/${running.id}/start`, { cookie: aliceCookie }), instanceSchema);
    expect(started).toMatchObject({ id: running.id, status: "running", operation: null, lastError: null });
    expect(started.machineId).toEqual(expect.any(String));
    expect(started.config).toMatchObject({ keySource: "minted", keyHealth: "ok", deployedDiffersFromLatest: false });
    expect(started.config.deployedKeyId).toBe(started.config.keyId);
    expect(new Date(started.config.deployedKeyExpiresAt!).getTime()).toBeGreaterThan(Date.now() + 29 * 24 * 3600 * 1000);

    const again = expectBody(await server.request("POST", `/api/instances/${running.id}/start`, { cookie: aliceCookie, body: {} }), instanceSchema);
    expect(again.config.keyId).toBe(started.config.keyId);

    const redeployed = expectBody(await server.request("POST", `/api/instances/${running.id}/redeploy`, { cookie: aliceCookie }), instanceSchema);
    expect(redeployed.status).toBe("running");
    expect(redeployed.config.keyId).not.toBe(started.config.keyId);
    expect(redeployed.config.deployedKeyId).toBe(redeployed.config.keyId);

    const config = expectBody(await server.request("GET", `/api/instances/${running.id}/config`, { cookie: aliceCookie }), instanceConfigSchema);
    expect(config).toMatchObject({ keyId: redeployed.config.keyId, keyHealth: "ok" });
  });

  it("a second operation while one runs is 409 operation_in_progress", async () => {
    const answers = await Promise.all(
      [1, 2, 3].map(() => server.request("POST", `/api/instances/${running.id}/redeploy`, { cookie: aliceCookie })),
    );
    const statuses = answers.map((answer) => answer.status).sort();
    expect(statuses.filter((status) => status === 200).length).toBeGreaterThanOrEqual(1);
    expect(statuses.filter((status) => status === 409).length).toBeGreaterThanOrEqual(1);
    for (const answer of answers) {
      if (answer.status === 200) expectBody(answer, instanceSchema);
      else expectError(answer, 409, "operation_in_progress");
    }
  });

  it("stop stops the machine, and stopping again is a no-op", async () => {
    const stopped = expectBody(await server.request("POST", `/api/instances/${running.id}/stop`, { cookie: aliceCookie }), instanceSchema);
    expect(stopped.status).toBe("stopped");
    const status = expectBody(await server.request("GET", `/api/instances/${running.id}/status`, { cookie: aliceCookie }), instanceStatusSchema);
    expect(status.status).toBe("stopped");
    expectBody(await server.request("POST", `/api/instances/${running.id}/stop`, { cookie: aliceCookie }), instanceSchema);
  });

  it("bad bodies: malformed JSON 400, a non-JSON content type 403 csrf_rejected, wrong types or unknown fields 422, over 64 KiB 413 — and nothing runs", async () => {
    for (const op of ["start", "stop", "redeploy"]) {
      const path = `/api/instances/${idle.id}/${op}`;
      for (const body of ["{", '{"a":', "nul", "\u0000"]) expectError(await server.request("POST", path, { cookie: aliceCookie, body }), 400, "bad_request");
      expectError(await server.request("POST", path, { cookie: aliceCookie, body: "{}", headers: { "content-type": "text/plain" } }), 403, "csrf_rejected");
      for (const body of [[], "x", 1, null, { force: true }]) {
        expectError(await server.request("POST", path, { cookie: aliceCookie, body: JSON.stringify(body) }), 422, "validation_failed");
      }
      expectError(await server.request("POST", path, { cookie: aliceCookie, body: { pad: "x".repeat(70 * 1024) } }), 413, "payload_too_large");
    }
    const status = expectBody(await server.request("GET", `/api/instances/${idle.id}/status`, { cookie: aliceCookie }), instanceStatusSchema);
    expect(status.status).toBe("provisioned");
  });

  it("unsupported methods are 405 in the error shape, with Allow", async () => {
    for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
      const answer = await server.request(method, `/api/instances/${idle.id}/status`, { cookie: aliceCookie });
      expectError(answer, 405, "method_not_allowed");
      expect(answer.headers.get("allow")).toBe("GET, HEAD, OPTIONS");
    }
    for (const method of ["GET", "PUT", "PATCH", "DELETE"]) {
      expectError(await server.request(method, `/api/instances/${idle.id}/start`, { cookie: aliceCookie }), 405, "method_not_allowed");
    }
    expectError(await server.request("GET", `/api/instances/${idle.id}`, { cookie: aliceCookie }), 404, "not_found");
  });

  it("no response carried key material, and nobody else's instance was touched", async () => {
    expect(await findKeyMaterial(server)).toEqual([]);
    await server.inspect(async (db) => {
      const untouched = await db.select().from(instanceEvents).where(eq(instanceEvents.instanceId, bobs.id));
      expect(untouched).toEqual([]);
      const [idleRow] = await db.select().from(instances).where(and(eq(instances.id, idle.id)));
      expect(idleRow).toMatchObject({ status: "provisioned", keyId: null, machineId: null });
      const events = await db.select().from(instanceEvents).where(eq(instanceEvents.instanceId, running.id));
      expect(events.every((event) => event.actorType === "user" && event.actorId === alice.row.id)).toBe(true);
    });
  });
});

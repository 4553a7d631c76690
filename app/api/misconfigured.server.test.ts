/**
 * A server started without NEXTAUTH_SECRET: every route that mints (start, redeploy, admin
 * redeploy, provision, the refresh pass) answers 503 `misconfigured` at once — before
 * authentication, before any work — and the database is exactly as it was.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instances, type InstanceRow } from "@/db/schema";
import { expectBody, expectError } from "@/test/http/expectations";
import { databaseFingerprint, findKeyMaterial, seedAccount, startApiServer, type ApiServer, type SeededAccount } from "@/test/http/api-server";
import { instanceStatusSchema } from "@/lib/openapi/schemas";

describe("server without NEXTAUTH_SECRET (next start)", () => {
  let server: ApiServer;
  let owner: SeededAccount;
  let instance: InstanceRow;
  let before: Record<string, string>;

  beforeAll(async () => {
    server = await startApiServer({
      // A production deployment refuses to start without every secret (shared/env); this runtime
      // guard is what protects any other deployment that runs without one.
      env: { NEXTAUTH_SECRET: undefined, NODE_ENV: "test" },
      seed: async (db) => {
        owner = await seedAccount(db, { email: "owner@misconfigured.test" });
        await seedAccount(db, { email: "admin@misconfigured.test", role: "admin" });
        const [row] = await db
          .insert(instances)
          .values({ ownerId: owner.row.id, name: "waiting", provider: "local", region: "local", imageTag: "latest" })
          .returning();
        instance = row!;
        before = await databaseFingerprint(db);
      },
    });
  }, 240_000);

  afterAll(async () => {
    await server?.close();
  });

  it("start, redeploy, admin redeploy, provision and the refresh pass answer 503 misconfigured, fast, whoever asks", async () => {
    expect(server.secrets.NEXTAUTH_SECRET).toBeUndefined();
    const internal = server.secrets.INTERNAL_API_SECRET!;
    const cron = server.secrets.CRON_SECRET!;
    const forgedSession = "next-auth.session-token=not-a-real-session";
    const calls: [string, string, { bearer?: string; cookie?: string; body?: unknown; headers?: Record<string, string> }][] = [
      ["POST", `/api/instances/${instance.id}/start`, {}],
      ["POST", `/api/instances/${instance.id}/start`, { cookie: forgedSession }],
      ["POST", `/api/instances/${instance.id}/redeploy`, {}],
      ["POST", `/api/instances/${instance.id}/redeploy`, { cookie: forgedSession, body: {} }],
      ["POST", `/api/admin/instances/${instance.id}/redeploy`, {}],
      ["POST", "/api/platform/instances", { bearer: internal, body: { userId: owner.row.id }, headers: { "Idempotency-Key": "misconfigured-1" } }],
      ["POST", "/api/platform/instances", { body: { userId: owner.row.id } }],
      ["POST", `/api/platform/instances/${instance.id}/start`, { bearer: internal }],
      ["POST", `/api/platform/instances/${instance.id}/redeploy`, { bearer: internal }],
      ["POST", "/api/cron/refresh-keys", { bearer: cron }],
      ["POST", "/api/cron/refresh-keys", {}],
    ];
    for (const [method, path, options] of calls) {
      const started = performance.now();
      const answer = await server.request(method, path, options);
      const elapsed = performance.now() - started;
      expectError(answer, 503, "misconfigured");
      expect((answer.body as { error: { message: string } }).error.message).toMatch(/NEXTAUTH_SECRET/);
      expect(elapsed, `${method} ${path} took ${Math.round(elapsed)} ms`).toBeLessThan(2_000);
    }
  });

  it("routes that do not mint still work (the server is up, only minting is refused)", async () => {
    const status = expectBody(
      await server.request("GET", `/api/platform/instances/${instance.id}/status`, { bearer: server.secrets.INTERNAL_API_SECRET }),
      instanceStatusSchema,
    );
    expect(status.status).toBe("provisioned");
    expectError(await server.request("GET", "/api/instances"), 401, "unauthorized");
  });

  it("changed nothing, and no response carried key material", async () => {
    expect(await findKeyMaterial(server)).toEqual([]);
    expect(await server.inspect(databaseFingerprint)).toEqual(before);
  });
});

/**
 * Rotating NEXTAUTH_SECRET on a real server (next start, restarted as an operator would, its local
 * machines running on in the machine service meanwhile):
 * - a session sealed under the old secret still opens while that secret is in
 *   NEXTAUTH_SECRET_PREVIOUS, a page visit re-seals it under the new secret, and the re-sealed
 *   session survives the old secret's removal;
 * - a running instance keeps its gateway process through both restarts, a refresh pass re-keys it
 *   live under the new secret (same process, gateway confirming), and its key still authenticates
 *   once the old secret is gone.
 */
import { randomBytes } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instances, type InstanceRow } from "@/db/schema";
import { decryptApiKey, requireEncryptionKey } from "@/lib/keys/encryption";
import { getGatewayHealth } from "@/lib/machines/gateway-client";
import { instanceConfigSchema, instanceSchema, keyHealthSummarySchema, refreshSummarySchema } from "@/lib/openapi/schemas";
import { expectBody } from "@/test/http/expectations";
import { seedAccount, startApiServer, type ApiServer, type SeededAccount } from "@/test/http/api-server";

function sessionCookieFrom(response: { headers: Headers }): string | undefined {
  const cookie = response.headers.getSetCookie().find((value) => value.startsWith("next-auth.session-token="));
  return cookie?.split(";")[0];
}

describe("signing-secret rotation keeps people signed in and instances running (next start)", () => {
  let server: ApiServer;
  let account: SeededAccount;
  let instance: InstanceRow;

  beforeAll(async () => {
    server = await startApiServer({
      seed: async (db) => {
        account = await seedAccount(db, { email: "rotation@secret.test", role: "admin" });
        [instance] = (await db
          .insert(instances)
          .values({ ownerId: account.row.id, name: "rotation", provider: "local", region: "local", imageTag: "latest" })
          .returning()) as [InstanceRow];
      },
    });
  }, 240_000);

  afterAll(async () => {
    await server?.close();
  });

  it("an admin signed in before the rotation stays signed in, and the running instance is re-keyed live, through both restarts", async () => {
    const oldSecret = server.secrets.NEXTAUTH_SECRET!;
    const newSecret = randomBytes(32).toString("hex");
    const signedIn = await server.signIn(account);
    const keyHealth = async (cookie: string) => expectBody(await server.request("GET", "/api/admin/key-health", { cookie }), keyHealthSummarySchema);
    const started = expectBody(await server.request("POST", `/api/instances/${instance.id}/start`, { cookie: signedIn }), instanceSchema);
    expect(started.status).toBe("running");
    const machineId = started.machineId!;
    const gatewayProcess = server.machines.supervisor.processOf(machineId);
    expect(gatewayProcess).toBeDefined();
    const gateway = async () => getGatewayHealth(server.machines.supervisor.gatewayUrl(await server.machines.supervisor.get(machineId)));

    // Step one of the runbook: the new secret signs, the old one only verifies.
    await server.restart({ NEXTAUTH_SECRET: newSecret, NEXTAUTH_SECRET_PREVIOUS: oldSecret });
    expect((await keyHealth(signedIn)).runningBySigner).toMatchObject({ previous: 1, current: 0 });
    const page = await server.request("GET", "/dashboard", { cookie: signedIn });
    expect(page.status).toBe(200);
    const resealed = sessionCookieFrom(page);
    expect(resealed, "the page visit re-seals the session under the new secret").toBeDefined();
    // A session already under the current secret is left alone.
    expect(sessionCookieFrom(await server.request("GET", "/dashboard", { cookie: resealed! }))).toBeUndefined();

    // The scheduler's pass (called here through the cron route) re-keys the instance in place.
    const pass = expectBody(await server.request("POST", "/api/cron/refresh-keys", { bearer: server.secrets.CRON_SECRET! }), refreshSummarySchema);
    expect(pass).toMatchObject({ refreshed: 1, failed: 0 });
    const rekeyed = expectBody(await server.request("GET", `/api/instances/${instance.id}/config`, { cookie: resealed! }), instanceConfigSchema);
    expect(rekeyed.deployedKeyId).not.toBe(started.config.deployedKeyId);
    // The summary is cached for a few seconds (lib/admin/overview-cache.ts).
    await expect.poll(async () => (await keyHealth(resealed!)).runningBySigner, { timeout: 15_000, interval: 500 }).toMatchObject({ previous: 0, current: 1 });
    expect((await gateway()).credential).toMatchObject({ state: "valid", keyId: rekeyed.deployedKeyId });
    expect(server.machines.supervisor.processOf(machineId)?.pid, "re-keyed without a restart").toBe(gatewayProcess!.pid);

    // Step two: the old secret is dropped. The re-sealed session lives on; the old cookie is dead.
    await server.restart({ NEXTAUTH_SECRET: newSecret, NEXTAUTH_SECRET_PREVIOUS: undefined });
    expect((await server.request("GET", "/api/admin/key-health", { cookie: signedIn })).status).toBe(401);
    expect((await keyHealth(resealed!)).runningBySigner).toMatchObject({ previous: 0, retired: 0, current: 1 });
    expect(server.machines.supervisor.processOf(machineId)?.pid, "both restarts left the machine running").toBe(gatewayProcess!.pid);
    if (server.databaseUrl) {
      // The key the gateway holds, read back as the server stored it: whoami still accepts it.
      const [row] = await server.inspect((db) => db.select().from(instances).where(eq(instances.id, instance.id)));
      const key = decryptApiKey(row!.encryptedKey!, { encryptionKey: requireEncryptionKey({ KEY_ENCRYPTION_KEY: server.secrets.KEY_ENCRYPTION_KEY }), instanceId: instance.id });
      const whoami = await server.request("GET", "/api/gateway/whoami", { bearer: key });
      expect(whoami.status).toBe(200);
      expect(whoami.body).toMatchObject({ instanceId: instance.id, keyId: rekeyed.deployedKeyId });
    }
    const logs = server.logs();
    expect(logs).not.toContain(oldSecret);
    expect(logs).not.toContain(newSecret);
  }, 180_000);
});

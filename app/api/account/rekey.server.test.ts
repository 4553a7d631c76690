/**
 * "Revoke all API keys" through the real route on a real server (next start, local gateway
 * processes): the owner's five running instances are re-keyed live within 10 s, each gateway
 * confirming a new key, on the same machines. (lib/instances/key-rotation.test.ts covers an
 * instance in refresh backoff and that the gateway processes are the same.)
 */
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instanceEvents, instances, type InstanceRow } from "@/db/schema";
import { expectBody } from "@/test/http/expectations";
import { seedAccount, startApiServer, type ApiServer, type SeededAccount } from "@/test/http/api-server";
import { instanceListSchema, instanceSchema, rotatePepperResultSchema } from "@/lib/openapi/schemas";

interface DetailData {
  instance: { config: { deployedKeyId: string | null; keyHealth: string; rekey: string | null } };
  gateway: { state: string; keyId: string | null } | null;
}

describe("revoking all keys re-keys running instances live (next start)", () => {
  let server: ApiServer;
  let owner: SeededAccount;
  let cookie: string;
  let rows: InstanceRow[];

  beforeAll(async () => {
    server = await startApiServer({
      seed: async (db) => {
        owner = await seedAccount(db, { email: "rekey@api.test" });
        rows = await db
          .insert(instances)
          .values(Array.from({ length: 5 }, (_, index) => ({ ownerId: owner.row.id, name: `rekey ${index}`, provider: "local" as const, region: "local", imageTag: "latest" })))
          .returning();
      },
    });
    cookie = await server.signIn(owner);
  }, 240_000);

  afterAll(async () => {
    await server?.close();
  });

  it("every gateway reports a new valid key within 10 s of the rotation, and nothing restarted", async () => {
    for (const row of rows) expectBody(await server.request("POST", `/api/instances/${row.id}/start`, { cookie }), instanceSchema);
    const before = expectBody(await server.request("GET", "/api/instances", { cookie }), instanceListSchema).instances;
    const machineOf = new Map(before.map((instance) => [instance.id, instance.machineId]));
    const keyOf = new Map(before.map((instance) => [instance.id, instance.config.deployedKeyId]));

    const rotation = expectBody(await server.request("POST", "/api/account/rotate-pepper", { cookie, body: {} }), rotatePepperResultSchema);
    const rotated = performance.now();
    expect(rotation).toMatchObject({ revokedKeyCount: 5, runningInstanceCount: 5 });

    let settled = false;
    while (!settled) {
      expect(performance.now() - rotated, "re-keyed within 10 s").toBeLessThan(10_000);
      const details = await Promise.all(
        rows.map(async (row) => (await server.request("GET", `/instances/${row.id}/data`, { cookie })).body as DetailData),
      );
      settled = details.every(
        ({ instance, gateway }, index) =>
          instance.config.keyHealth === "ok" &&
          instance.config.rekey === null &&
          gateway?.state === "valid" &&
          gateway.keyId === instance.config.deployedKeyId &&
          instance.config.deployedKeyId !== keyOf.get(rows[index]!.id),
      );
      if (!settled) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const after = expectBody(await server.request("GET", "/api/instances", { cookie }), instanceListSchema).instances;
    for (const instance of after) {
      expect(instance.machineId).toBe(machineOf.get(instance.id));
      expect(instance.config.deployedKeyId).not.toBe(keyOf.get(instance.id));
      expect(instance).toMatchObject({ status: "running", config: { keyHealth: "ok", rekey: null } });
    }

    const events = await server.inspect((db) => db.select().from(instanceEvents).where(eq(instanceEvents.action, "refresh")));
    expect(events).toHaveLength(5);
    for (const event of events) expect(event).toMatchObject({ outcome: "success", actorType: "user", actorId: owner.row.id });
  }, 60_000);
});

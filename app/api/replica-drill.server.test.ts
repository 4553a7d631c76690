/**
 * The replica fault drill on real processes: two `next start` replicas on one PostgreSQL, sharing
 * one local machine service. One replica is killed with `kill -9` in the middle of redeploys; every
 * instance must be operable from the survivor within 45 s (the default 30 s lease), end with
 * exactly one gateway whose key authenticates and is the deployed one, and show the interrupted
 * operation and the recovery in its audit log. Then thirty interleaved redeploys from two replicas
 * answer only 2xx or 409. Needs TEST_DATABASE_URL (two processes cannot share PGlite).
 */
import { asc, eq, inArray } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instanceEvents, instances } from "@/db/schema";
import { seedAccount, startApiServer, type ApiServer, type SeededAccount } from "@/test/http/api-server";
import { expectBody } from "@/test/http/expectations";
import { waitForGatewayCredential } from "@/lib/machines/gateway-client";
import { INSTANCE_METADATA_KEY } from "@/lib/machines/gateway-config";
import { instanceSchema, instanceStatusSchema } from "@/lib/openapi/schemas";

const INSTANCES = 3;
const RECOVERY_BUDGET_MS = 45_000;
// Both replicas run the scheduler, as in production: its reconcile pass picks up expired leases.
const REPLICA_ENV = { SCHEDULER_INTERVAL_SECONDS: "2" };

describe.skipIf(!process.env.TEST_DATABASE_URL)("replica drill: kill -9 mid-redeploy (next start ×2, one machine service)", () => {
  let first: ApiServer;
  let survivor: ApiServer;
  let late: ApiServer | undefined;
  let owner: SeededAccount;
  let internal: string;
  const ids: string[] = [];

  beforeAll(async () => {
    first = await startApiServer({ env: REPLICA_ENV, seed: async (db) => void (owner = await seedAccount(db, { email: "drill@api.test" })) });
    survivor = await startApiServer({ env: REPLICA_ENV, replicaOf: first });
    internal = first.secrets.INTERNAL_API_SECRET!;
  }, 240_000);

  afterAll(async () => {
    // Replicas first: the first server owns the database and the machine service.
    await late?.close();
    await survivor?.close();
    await first?.close();
  });

  const post = (server: ApiServer, path: string, body?: unknown) => server.request("POST", path, { bearer: internal, body });
  const rowsOf = () => first.inspect((db) => db.select().from(instances).where(inArray(instances.id, ids)));

  /** One machine per instance, its gateway holding the deployed key, which the control plane accepts. */
  async function expectOneGatewayWithDeployedKey(instanceId: string, via: ApiServer) {
    const [row] = await first.inspect((db) => db.select().from(instances).where(eq(instances.id, instanceId)));
    expect(row).toMatchObject({ status: "running", leaseToken: null });
    expect(row!.deployedKeyId).toBe(row!.keyId);
    const machines = await via.machines.supervisor.list({ metadata: { [INSTANCE_METADATA_KEY]: instanceId } });
    expect(machines.map((machine) => machine.id)).toEqual([row!.machineId]);
    expect(via.machines.supervisor.processOf(row!.machineId!)).toBeDefined();
    const health = await waitForGatewayCredential(`${via.machines.url}/gateways/${row!.machineId}`, {
      timeoutMs: 10_000,
      until: (credential) => credential.keyId === row!.deployedKeyId,
    });
    expect(health.credential).toMatchObject({ state: "valid", keyId: row!.deployedKeyId, instanceId });
  }

  it("recovers every instance on the survivor within 45 s, with one gateway running the deployed key", async () => {
    for (let i = 0; i < INSTANCES; i += 1) {
      const created = expectBody(await post(first, "/api/platform/instances", { userId: owner.row.id, name: `drill ${i}` }), instanceSchema, 201);
      ids.push(created.id);
      expectBody(await post(first, `/api/platform/instances/${created.id}/start`), instanceSchema);
    }

    // Hold the machine waits, so every redeploy on the first replica is mid-step (its update sent, the wait pending).
    first.machines.inject("Machines_wait", { type: "delay", ms: 60_000 }, INSTANCES);
    const doomed = ids.map((id) => post(first, `/api/platform/instances/${id}/redeploy`).catch(() => undefined));
    const deadline = Date.now() + 20_000;
    while ((await rowsOf()).some((row) => row.leaseStep !== "waiting_for_start")) {
      if (Date.now() > deadline) throw new Error("the redeploys never reached the machine wait");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    process.kill(-first.pid, "SIGKILL");
    const killedAt = Date.now();
    await Promise.all(doomed);
    while (first.running) await new Promise((resolve) => setTimeout(resolve, 50));

    // From the survivor: every instance is redeployed as soon as it is free; 409 until then.
    const recoveredAfterMs: number[] = [];
    const truthfulAfterMs: number[] = [];
    await Promise.all(
      ids.map(async (id) => {
        let statusTruthful = false;
        for (;;) {
          if (!statusTruthful) {
            const status = expectBody(await survivor.request("GET", `/api/platform/instances/${id}/status`, { bearer: internal }), instanceStatusSchema);
            if (status.operation === null) {
              statusTruthful = true;
              truthfulAfterMs.push(Date.now() - killedAt);
            }
          }
          const answer = await post(survivor, `/api/platform/instances/${id}/redeploy`);
          if (answer.status === 200) break;
          expect(answer.status, answer.text).toBe(409);
          if (Date.now() - killedAt > RECOVERY_BUDGET_MS) throw new Error(`instance ${id} still locked ${Date.now() - killedAt} ms after the kill`);
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
        recoveredAfterMs.push(Date.now() - killedAt);
      }),
    );
    console.log(
      `replica drill: status without the dead operation after ${truthfulAfterMs.sort((a, b) => a - b).join(", ")} ms; ` +
        `redeployed from the survivor after ${recoveredAfterMs.sort((a, b) => a - b).join(", ")} ms (lease TTL 30 s)`,
    );
    expect(Math.max(...recoveredAfterMs)).toBeLessThan(RECOVERY_BUDGET_MS);

    for (const id of ids) {
      await expectOneGatewayWithDeployedKey(id, survivor);
      const events = await first.inspect((db) => db.select().from(instanceEvents).where(eq(instanceEvents.instanceId, id)).orderBy(asc(instanceEvents.id)));
      const interrupted = events.findIndex((event) => event.action === "operation_interrupted");
      expect(interrupted, JSON.stringify(events.map((event) => event.action))).toBeGreaterThan(-1);
      expect(events[interrupted]!.details).toMatchObject({ interruptedOperation: "redeploy", interruptedStep: "waiting_for_start" });
      expect(events.slice(interrupted + 1).some((event) => event.action === "redeploy" && event.outcome === "success")).toBe(true);
    }
  }, 120_000);

  it("answers thirty interleaved redeploys from two replicas with 2xx or 409 only", async () => {
    late = await startApiServer({ env: REPLICA_ENV, replicaOf: first });
    const replicas = [survivor, late];
    const statuses = await Promise.all(
      Array.from({ length: 30 }, async (_, n) => {
        await new Promise((resolve) => setTimeout(resolve, n * 40));
        const answer = await post(replicas[n % 2]!, `/api/platform/instances/${ids[n % ids.length]}/redeploy`);
        return answer.status === 200 || answer.status === 409 ? answer.status : `${answer.status} ${answer.text}`;
      }),
    );
    const tally = statuses.reduce<Record<string, number>>((counts, status) => ({ ...counts, [status]: (counts[status] ?? 0) + 1 }), {});
    console.log(`replica drill: thirty interleaved redeploys → ${JSON.stringify(tally)}`);
    expect(statuses.filter((status) => status !== 200 && status !== 409)).toEqual([]);
    expect(tally[200]).toBeGreaterThan(0);
    for (const id of ids) await expectOneGatewayWithDeployedKey(id, late);
  }, 120_000);
});

/**
 * Fencing, with a seam in replica A's machine provider: two "replicas" (their own lifecycle deps
 * and Fly clients) share one database and one local machine service. A stalls mid-operation past
 * its lease, B takes the instance over and redeploys it; when A wakes up it must not touch the
 * machine again, and the machine must run exactly the key the database records as deployed.
 */
import { asc, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instanceEvents, instances } from "@/db/schema";
import { decryptApiKey } from "@/lib/keys/encryption";
import { waitForGatewayCredential } from "@/lib/machines/gateway-client";
import { INSTANCE_METADATA_KEY } from "@/lib/machines/gateway-config";
import { createMachineProvider } from "@/lib/machines/index";
import { startMachineService, type MachineService } from "@/lib/machines/local/service";
import type { MachineProvider } from "@/lib/machines/types";
import type { LifecycleDeps } from "./deps";
import { redeployInstance } from "./redeploy";
import { startInstance } from "./start";
import { createLifecycleHarness, type LifecycleHarness } from "@/test/instances/harness";

const TOKEN = "fencing-test-machine-service-token";
const WRITES = new Set(["Machines_create", "Machines_update", "Machines_start", "Machines_stop", "Machines_delete"]);

/** A provider whose `method` waits at the gate (after the fence let the call through) until released. */
function gated(provider: MachineProvider, method: "list" | "update") {
  let reached!: () => void;
  let release!: () => void;
  const atGate = new Promise<void>((resolve) => (reached = resolve));
  const gate = new Promise<void>((resolve) => (release = resolve));
  const wrapped: MachineProvider = {
    ...provider,
    [method]: async (...args: unknown[]) => {
      reached();
      await gate;
      return (provider[method] as (...inner: unknown[]) => Promise<unknown>)(...args);
    },
  };
  return { provider: wrapped, atGate, release };
}

describe("fencing: a replica that lost its lease mid-step", () => {
  let service: MachineService;
  let harness: LifecycleHarness;
  let replicaB: LifecycleDeps;
  const client = () => createMachineProvider({ MACHINE_PROVIDER: "local", LOCAL_MACHINES_URL: service.url, LOCAL_MACHINES_TOKEN: TOKEN });

  beforeAll(async () => {
    service = await startMachineService({ token: TOKEN, supervisor: { onOutput: () => {}, stopGraceMs: 2_000 } });
    harness = await createLifecycleHarness("pglite", { machines: client() });
    replicaB = { ...harness.deps, machines: client() };
  });

  afterAll(async () => {
    await harness?.close();
    await service?.close();
  });

  /** Replica A's deps: a long lease (its heartbeat stays quiet during the test) and the gated provider. */
  const replicaA = (machines: MachineProvider): LifecycleDeps => ({
    ...harness.deps,
    machines,
    timeouts: { ...harness.deps.timeouts, leaseMs: 60_000 },
  });

  /** As if A had stalled for a whole TTL: its lease is now expired. */
  const expireLease = (instanceId: string) =>
    harness.database.db.update(instances).set({ leaseExpiresAt: sql`now() - interval '1 second'` }).where(eq(instances.id, instanceId));

  const writesSince = (index: number) => service.requests.slice(index).filter((request) => WRITES.has(request.operationId));

  /** Exactly one machine runs for the instance, and its gateway holds the key recorded as deployed. */
  async function expectMachineRunsDeployedKey(instanceId: string) {
    const [row] = await harness.database.db.select().from(instances).where(eq(instances.id, instanceId));
    expect(row).toMatchObject({ status: "running", leaseToken: null });
    expect(row!.deployedKeyId).toBe(row!.keyId);
    const machines = await service.supervisor.list({ metadata: { [INSTANCE_METADATA_KEY]: instanceId } });
    expect(machines.map((machine) => machine.id)).toEqual([row!.machineId]);
    expect(machines[0]!.version).toBe(row!.machineVersion);
    const deployedKey = decryptApiKey(row!.encryptedKey!, { encryptionKey: harness.deps.encryptionKey, instanceId });
    expect(machines[0]!.config.env.KILOCODE_API_KEY === deployedKey).toBe(true);
    const health = await waitForGatewayCredential(replicaB.machines.gatewayUrl({ id: row!.machineId! }), {
      timeoutMs: 5_000,
      until: (credential) => credential.keyId === row!.deployedKeyId,
    });
    expect(health.credential).toMatchObject({ state: "valid", keyId: row!.deployedKeyId });
    return row!;
  }

  it("makes no machine write after another replica took its expired lease over", async () => {
    const owner = await harness.createUser();
    const row = await harness.provision(owner.id);
    const seam = gated(client(), "list");
    const actor = { type: "user" as const, id: owner.id };

    // A starts the instance and stalls in its first machine call (looking for an orphan machine).
    const stalled = startInstance({ instanceId: row.id, actor }, replicaA(seam.provider)).then(
      () => undefined,
      (error: unknown) => error,
    );
    await seam.atGate;
    await expireLease(row.id);
    const started = await startInstance({ instanceId: row.id, actor }, replicaB);
    expect(started.status).toBe("running");

    const before = service.requests.length;
    seam.release();
    expect(await stalled).toMatchObject({ code: "operation_in_progress" });
    expect(writesSince(before)).toEqual([]);
    await expectMachineRunsDeployedKey(row.id);

    const events = await harness.database.db
      .select()
      .from(instanceEvents)
      .where(eq(instanceEvents.instanceId, row.id))
      .orderBy(asc(instanceEvents.id));
    // B's takeover names A's operation; A's own attempt ends as a failure that changed nothing.
    expect(events.map((event) => `${event.action}:${event.outcome}:${event.errorCode}`)).toEqual([
      "operation_interrupted:failure:operation_interrupted",
      "start:success:null",
      "start:failure:operation_in_progress",
    ]);
    expect(events[0]!.details).toMatchObject({ interruptedOperation: "start", interruptedStep: "updating_machine", takenOverBy: "start" });
  });

  it("has its update refused by the machine (409 on current_version) when it was already on the wire", async () => {
    const owner = await harness.createUser();
    const row = await harness.provision(owner.id);
    const actor = { type: "user" as const, id: owner.id };
    await startInstance({ instanceId: row.id, actor }, replicaB);

    // A redeploys; its update passed the lease check and is held just before it reaches the service.
    const seam = gated(client(), "update");
    const stalled = redeployInstance({ instanceId: row.id, actor }, replicaA(seam.provider)).then(
      () => undefined,
      (error: unknown) => error,
    );
    await seam.atGate;
    await expireLease(row.id);
    const redeployed = await redeployInstance({ instanceId: row.id, actor }, replicaB);

    const before = service.requests.length;
    seam.release();
    expect(await stalled).toMatchObject({ code: "operation_in_progress" });
    // The one write A still sent was refused, and A sent nothing after it.
    expect(writesSince(before).map((request) => `${request.operationId}:${request.outcome}`)).toEqual(["Machines_update:409"]);
    const after = await expectMachineRunsDeployedKey(row.id);
    expect(after.deployedKeyId).toBe(redeployed.deployedKeyId);
  });
});

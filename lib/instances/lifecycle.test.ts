import { and, asc, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instanceEvents, instances } from "@/db/schema";
import { realPostgresDrivers, testDrivers } from "@/test/db";
import { AppError } from "@/lib/errors";
import { rotatePepper } from "@/lib/keys/rotate-pepper";
import { getGatewayHealth, waitForGatewayCredential } from "@/lib/machines/gateway-client";
import type { LocalMachineProvider } from "@/lib/machines/local/provider";
import type { MachineProvider } from "@/lib/machines/types";
import { destroyInstance } from "./destroy";
import { getInstanceConfig, getInstanceStatus } from "./status";
import { redeployInstance } from "./redeploy";
import { startInstance } from "./start";
import { stopInstance } from "./stop";
import { createLifecycleHarness, withUsersLocked, type LifecycleHarness } from "@/test/instances/harness";

const DAY_MS = 24 * 60 * 60 * 1000;
const user = (id: string) => ({ type: "user" as const, id });

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function eventsOf(harness: LifecycleHarness, instanceId: string) {
  return harness.database.db
    .select()
    .from(instanceEvents)
    .where(eq(instanceEvents.instanceId, instanceId))
    .orderBy(asc(instanceEvents.id));
}

describe.each(testDrivers())("instance lifecycle on local machines (%s)", (driver) => {
  let harness: LifecycleHarness;
  beforeAll(async () => {
    harness = await createLifecycleHarness(driver);
  });
  afterAll(async () => {
    await harness?.close();
  });

  it("start → valid, rotation → revoked, redeploy → valid with a new key, stop and destroy leave no process", async () => {
    const owner = await harness.createUser();
    const provisioned = await harness.provision(owner.id);
    const machines = harness.machines as LocalMachineProvider;

    const started = await startInstance({ instanceId: provisioned.id, actor: user(owner.id), ownerId: owner.id }, harness.deps);
    expect(started.status).toBe("running");
    expect(started.keySource).toBe("minted");
    expect(started.deployedKeyId).toBe(started.keyId);
    expect(started.deployedKeyExpiresAt!.getTime() - Date.now()).toBeGreaterThan(30 * DAY_MS - 60_000);
    const gatewayUrl = harness.machines.gatewayUrl({ id: started.machineId! });
    const health = await getGatewayHealth(gatewayUrl);
    expect(health.credential).toMatchObject({ state: "valid", keyId: started.keyId, instanceId: started.id });
    const firstProcess = machines.processOf(started.machineId!)!;
    expect(isAlive(firstProcess.pid)).toBe(true);

    // Start on a running instance: no mint, no machine call.
    const again = await startInstance({ instanceId: started.id, actor: user(owner.id), ownerId: owner.id }, harness.deps);
    expect(again.keyId).toBe(started.keyId);
    expect(again.machineVersion).toBe(started.machineVersion);
    expect(machines.processOf(started.machineId!)?.pid).toBe(firstProcess.pid);

    await rotatePepper({ userId: owner.id, actor: user(owner.id) }, { db: harness.database.db, cache: harness.deps.keyStateCache });
    await waitForGatewayCredential(gatewayUrl, { timeoutMs: 10_000, until: (credential) => credential.state === "revoked" });
    expect((await getInstanceConfig({ instanceId: started.id }, harness.deps)).keyHealth).toBe("revoked");

    const redeployed = await redeployInstance({ instanceId: started.id, actor: user(owner.id), ownerId: owner.id }, harness.deps);
    expect(redeployed.keyId).not.toBe(started.keyId);
    expect(redeployed.deployedKeyId).toBe(redeployed.keyId);
    expect(redeployed.keyRevokedAt).toBeNull();
    const afterRedeploy = await getGatewayHealth(gatewayUrl);
    expect(afterRedeploy.credential).toMatchObject({ state: "valid", keyId: redeployed.keyId });
    expect(new Date(afterRedeploy.credential.expiresAt!).getTime() - Date.now()).toBeGreaterThan(30 * DAY_MS - 60_000);
    expect((await getInstanceConfig({ instanceId: started.id }, harness.deps)).keyHealth).toBe("ok");
    const redeployedProcess = machines.processOf(started.machineId!)!;
    expect(isAlive(firstProcess.pid)).toBe(false);

    const stopped = await stopInstance({ instanceId: started.id, actor: user(owner.id), ownerId: owner.id }, harness.deps);
    expect(stopped.status).toBe("stopped");
    expect(machines.processOf(started.machineId!)).toBeUndefined();
    expect(isAlive(redeployedProcess.pid)).toBe(false);

    const restarted = await startInstance({ instanceId: started.id, actor: user(owner.id), ownerId: owner.id }, harness.deps);
    expect(restarted.status).toBe("running");
    const restartedProcess = machines.processOf(started.machineId!)!;

    const destroyed = await destroyInstance({ instanceId: started.id, actor: user(owner.id), ownerId: owner.id }, harness.deps);
    expect(destroyed.status).toBe("destroyed");
    expect(destroyed.encryptedKey).toBeNull();
    expect(machines.processOf(started.machineId!)).toBeUndefined();
    expect(isAlive(restartedProcess.pid)).toBe(false);
    await expect(getInstanceStatus({ instanceId: started.id }, harness.deps)).rejects.toMatchObject({ code: "not_found" });

    const actions = (await eventsOf(harness, started.id)).map((event) => `${event.action}:${event.outcome}`);
    expect(actions).toEqual([
      "start:success",
      "start:noop",
      "key_revoked:success",
      "redeploy:success",
      "stop:success",
      "start:success",
      "destroy:success",
    ]);
  });

  it("answers 404 for another user's instance and records nothing", async () => {
    const owner = await harness.createUser();
    const stranger = await harness.createUser();
    const row = await harness.provision(owner.id);
    await expect(
      startInstance({ instanceId: row.id, actor: user(stranger.id), ownerId: stranger.id }, harness.deps),
    ).rejects.toMatchObject({ code: "not_found" });
    await expect(getInstanceStatus({ instanceId: row.id, ownerId: stranger.id }, harness.deps)).rejects.toMatchObject({ code: "not_found" });
    expect(await eventsOf(harness, row.id)).toEqual([]);
  });

  it("a success commits with its audit event: when the event cannot be written, the operation does not end as a success", async () => {
    const owner = await harness.createUser();
    const row = await harness.provision(owner.id);
    const started = await startInstance({ instanceId: row.id, actor: user(owner.id) }, harness.deps);
    const db = harness.database.db;
    // The audit log refuses this owner's successful stop (and nothing else).
    await db.execute(sql.raw(`alter table instance_events add constraint refuse_stop_${owner.id.slice(0, 8)} check (not (action = 'stop' and outcome = 'success' and actor_id = '${owner.id}')) not valid`));
    try {
      await expect(stopInstance({ instanceId: row.id, actor: user(owner.id) }, harness.deps)).rejects.toBeInstanceOf(AppError);
    } finally {
      await db.execute(sql.raw(`alter table instance_events drop constraint refuse_stop_${owner.id.slice(0, 8)}`));
    }
    // The release with the success's values rolled back with the event: the failure path released
    // the lease, observed the machine (stopped) and recorded the failure.
    const [after] = await db.select().from(instances).where(eq(instances.id, row.id));
    expect(after).toMatchObject({ status: "stopped", leaseToken: null, machineId: started.machineId });
    expect(after!.lastErrorCode).not.toBeNull();
    const stops = (await eventsOf(harness, row.id)).filter((event) => event.action === "stop");
    expect(stops.map((event) => event.outcome)).toEqual(["failure"]);
  });

  it("refuses to mint without a signing secret, before any work", async () => {
    const owner = await harness.createUser();
    const row = await harness.provision(owner.id);
    const deps = { ...harness.deps, keyRing: undefined };
    await expect(startInstance({ instanceId: row.id, actor: user(owner.id) }, deps)).rejects.toMatchObject({ code: "misconfigured" });
    const [after] = await harness.database.db.select().from(instances).where(eq(instances.id, row.id));
    expect(after).toMatchObject({ status: "provisioned", leaseToken: null, keyId: null, machineId: null });
  });

  it("recovers a lease abandoned by a crashed replica once it expires", async () => {
    const owner = await harness.createUser();
    const row = await harness.provision(owner.id);
    const abandon = (expiresIn: string) =>
      harness.database.db
        .update(instances)
        .set({ leaseToken: crypto.randomUUID(), leaseOperation: "redeploy", leaseExpiresAt: sql`now() + ${expiresIn}::interval` })
        .where(eq(instances.id, row.id));

    await abandon("1 minute");
    await expect(startInstance({ instanceId: row.id, actor: user(owner.id) }, harness.deps)).rejects.toMatchObject({
      code: "operation_in_progress",
    });
    await abandon("-1 second");
    const started = await startInstance({ instanceId: row.id, actor: user(owner.id) }, harness.deps);
    expect(started).toMatchObject({ status: "running", leaseToken: null });
    await stopInstance({ instanceId: row.id, actor: user(owner.id) }, harness.deps);
  });
});

describe.each(realPostgresDrivers())("lifecycle under failure and concurrency (%s)", (driver) => {
  let harness: LifecycleHarness;
  beforeAll(async () => {
    harness = await createLifecycleHarness(driver, {
      overrides: { timeouts: { mintMs: 1_500, machineWaitMs: 20_000, credentialMs: 10_000, leaseMs: 120_000 } },
    });
  });
  afterAll(async () => {
    await harness?.close();
  });

  const usersLocked = <T>(work: () => Promise<T>) => withUsersLocked(harness.database.url!, work);

  it("falls back to a valid stored key when minting is impossible, and refuses dead ones without touching the machine", async () => {
    const owner = await harness.createUser();
    const row = await harness.provision(owner.id);
    const machines = harness.machines as LocalMachineProvider;
    const running = await startInstance({ instanceId: row.id, actor: user(owner.id) }, harness.deps);
    const gatewayUrl = machines.gatewayUrl({ id: running.machineId! });

    const fallback = await usersLocked(() => redeployInstance({ instanceId: row.id, actor: user(owner.id) }, harness.deps));
    expect(fallback).toMatchObject({ status: "running", keySource: "fallback", keyId: running.keyId, deployedKeyId: running.keyId });
    const [fallbackEvent] = (await eventsOf(harness, row.id)).filter((event) => event.action === "redeploy");
    expect(fallbackEvent).toMatchObject({ outcome: "success", keySource: "fallback", keyId: running.keyId });
    expect((await getGatewayHealth(gatewayUrl)).credential.state).toBe("valid");

    const before = { pid: machines.processOf(running.machineId!)!.pid, version: (await machines.get(running.machineId!)).version };
    for (const [label, values] of [
      ["expiry_missing", { keyExpiresAt: null }],
      ["expired", { keyExpiresAt: new Date(Date.now() - 60_000) }],
    ] as const) {
      await harness.database.db.update(instances).set(values).where(eq(instances.id, row.id));
      const failure = await usersLocked(() =>
        redeployInstance({ instanceId: row.id, actor: user(owner.id) }, harness.deps).then(
          () => undefined,
          (error: unknown) => error,
        ),
      );
      expect(failure).toBeInstanceOf(AppError);
      expect(failure).toMatchObject({ code: "key_unavailable", details: { reason: label } });
      const machine = await machines.get(running.machineId!);
      expect(machine).toMatchObject({ state: "started", version: before.version });
      expect(machines.processOf(running.machineId!)?.pid).toBe(before.pid);
      const [after] = await harness.database.db.select().from(instances).where(eq(instances.id, row.id));
      expect(after).toMatchObject({ status: "running", lastErrorCode: "key_unavailable", leaseToken: null });
    }
    await stopInstance({ instanceId: row.id, actor: user(owner.id) }, harness.deps);
  });

  it("20 concurrent redeploys: one at a time, each succeeds or is told another is in progress, nothing lost", async () => {
    const owner = await harness.createUser();
    const row = await harness.provision(owner.id);
    await startInstance({ instanceId: row.id, actor: user(owner.id) }, harness.deps);
    const machineCalls: string[] = [];
    const machines = harness.machines;
    const recording: MachineProvider = Object.assign(Object.create(machines) as MachineProvider, {
      update: (...args: Parameters<MachineProvider["update"]>) => {
        machineCalls.push("update");
        return machines.update(...args);
      },
      waitForState: async (...args: Parameters<MachineProvider["waitForState"]>) => {
        await machines.waitForState(...args);
        machineCalls.push("wait");
      },
    });
    const deps = { ...harness.deps, machines: recording };

    // Spread over a few seconds so that several redeploys succeed one after another while others collide.
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        new Promise((resolve) => setTimeout(resolve, (index % 10) * 250)).then(() =>
        redeployInstance({ instanceId: row.id, actor: user(owner.id) }, deps)).then(
          (result) => ({ ok: true as const, keyId: result.keyId }),
          (error: unknown) => ({ ok: false as const, code: (error as AppError).code }),
        ),
      ),
    );
    const succeeded = outcomes.filter((outcome) => outcome.ok);
    expect(succeeded.length).toBeGreaterThanOrEqual(1);
    expect(outcomes.filter((outcome) => !outcome.ok).every((outcome) => outcome.code === "operation_in_progress")).toBe(true);

    // Never two operations at once: the machine saw each redeploy's update and wait as one
    // uninterrupted pair, never interleaved with another's.
    expect(machineCalls.join(" ")).toBe(Array.from({ length: succeeded.length }, () => "update wait").join(" "));
    const redeploys = (await eventsOf(harness, row.id)).filter((event) => event.action === "redeploy" && event.outcome === "success");
    expect(redeploys).toHaveLength(succeeded.length);

    // No lost update: the stored, deployed and live keys are the last successful redeploy's.
    const [final] = await harness.database.db.select().from(instances).where(and(eq(instances.id, row.id)));
    expect(final).toMatchObject({ status: "running", leaseToken: null, deployedKeyId: final!.keyId });
    expect(succeeded.map((outcome) => outcome.keyId)).toContain(final!.keyId);
    const health = await getGatewayHealth(harness.machines.gatewayUrl({ id: final!.machineId! }));
    expect(health.credential).toMatchObject({ state: "valid", keyId: final!.keyId });
    await stopInstance({ instanceId: row.id, actor: user(owner.id) }, harness.deps);
  });
});

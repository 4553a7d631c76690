import { randomUUID } from "node:crypto";
import { and, eq, inArray } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instanceEvents, instances } from "@/db/schema";
import { realPostgresDrivers, testDrivers } from "@/test/db";
import { rotatePepper } from "@/lib/keys/rotate-pepper";
import { getGatewayHealth } from "@/lib/machines/gateway-client";
import type { LocalMachineProvider } from "@/lib/machines/local/provider";
import { refreshBackoffMs, refreshDueInstances } from "./refresh";
import { refreshJitterOf, refreshPointOf, refreshPointSql } from "./refresh-due";
import { startInstance } from "./start";
import { stopInstance } from "./stop";
import { createLifecycleHarness, type LifecycleHarness } from "@/test/instances/harness";

const DAY_MS = 24 * 60 * 60 * 1000;

async function runningInstance(harness: LifecycleHarness) {
  const owner = await harness.createUser();
  const row = await harness.provision(owner.id);
  const started = await startInstance({ instanceId: row.id, actor: { type: "user", id: owner.id } }, harness.deps);
  return { owner, started };
}

async function expireSoon(harness: LifecycleHarness, instanceId: string, inMs = DAY_MS) {
  await harness.database.db
    .update(instances)
    .set({ deployedKeyExpiresAt: new Date(Date.now() + inMs) })
    .where(eq(instances.id, instanceId));
}

describe("refresh backoff", () => {
  it("doubles from a minute up to an hour, with bounded jitter", () => {
    expect(refreshBackoffMs(1, () => 0.5)).toBe(60_000);
    expect(refreshBackoffMs(3, () => 0.5)).toBe(240_000);
    expect(refreshBackoffMs(20, () => 0.5)).toBe(3_600_000);
    expect(refreshBackoffMs(1, () => 0)).toBe(48_000);
    expect(refreshBackoffMs(1, () => 1)).toBe(72_000);
  });
});

describe.each(testDrivers())("proactive key refresh (%s)", (driver) => {
  let harness: LifecycleHarness;
  beforeAll(async () => {
    harness = await createLifecycleHarness(driver);
  });
  afterAll(async () => {
    await harness?.close();
  });

  it("replaces a key close to expiry in place: no restart, durable config, gateway confirms", async () => {
    const { started } = await runningInstance(harness);
    const machines = harness.machines as LocalMachineProvider;
    const pid = machines.processOf(started.machineId!)!.pid;
    await expireSoon(harness, started.id);

    const summary = await refreshDueInstances({ thresholdHours: 72 }, harness.deps);
    expect(summary).toMatchObject({ claimed: 1, refreshed: 1, failed: 0 });

    const [row] = await harness.database.db.select().from(instances).where(eq(instances.id, started.id));
    expect(row!.keyId).not.toBe(started.keyId);
    expect(row).toMatchObject({ deployedKeyId: row!.keyId, status: "running", leaseToken: null, refreshAttempts: 0 });
    expect(row!.deployedKeyExpiresAt!.getTime() - Date.now()).toBeGreaterThan(30 * DAY_MS - 60_000);
    expect(machines.processOf(started.machineId!)!.pid).toBe(pid);
    const machine = await machines.get(started.machineId!);
    expect(machine.version).not.toBe(started.machineVersion);
    expect(machine.state).toBe("started");
    expect((await getGatewayHealth(machines.gatewayUrl(machine))).credential).toMatchObject({ state: "valid", keyId: row!.keyId });

    // Nothing is due any more.
    expect(await refreshDueInstances({ thresholdHours: 72 }, harness.deps)).toMatchObject({ claimed: 0 });
    await stopInstance({ instanceId: started.id, actor: { type: "system", id: null } }, harness.deps);
  });

  it("refreshes keys revoked by a pepper rotation, and leaves fresh ones alone", async () => {
    const { owner, started } = await runningInstance(harness);
    const { started: untouched } = await runningInstance(harness);
    await rotatePepper({ userId: owner.id, actor: { type: "user", id: owner.id } }, { db: harness.database.db, cache: harness.deps.keyStateCache });

    const summary = await refreshDueInstances({ thresholdHours: 72 }, harness.deps);
    expect(summary.results.map((result) => result.instanceId)).toEqual([started.id]);
    expect(summary.refreshed).toBe(1);
    const [row] = await harness.database.db.select().from(instances).where(eq(instances.id, started.id));
    expect(row).toMatchObject({ keyRevokedAt: null, deployedKeyId: row!.keyId });
    const health = await getGatewayHealth(harness.machines.gatewayUrl({ id: started.machineId! }));
    expect(health.credential).toMatchObject({ state: "valid", keyId: row!.keyId });
    await stopInstance({ instanceId: started.id, actor: { type: "system", id: null } }, harness.deps);
    await stopInstance({ instanceId: untouched.id, actor: { type: "system", id: null } }, harness.deps);
  });

  it("a failed delivery keeps the old key, records the error and backs off", async () => {
    const { started } = await runningInstance(harness);
    await expireSoon(harness, started.id);
    // The gateway rejects pushes authorised with the wrong token: the delivery fails.
    const deps = { ...harness.deps, gatewayTokenSecret: "not-the-secret-the-machine-was-started-with" };

    const summary = await refreshDueInstances({ thresholdHours: 72 }, deps);
    expect(summary).toMatchObject({ claimed: 1, refreshed: 0, failed: 1 });
    const [row] = await harness.database.db.select().from(instances).where(eq(instances.id, started.id));
    expect(row).toMatchObject({ status: "running", deployedKeyId: started.keyId, refreshAttempts: 1, leaseToken: null });
    expect(row!.lastErrorCode).toBeTruthy();
    expect(row!.nextRefreshAttemptAt!.getTime()).toBeGreaterThan(Date.now() + 30_000);
    const health = await getGatewayHealth(harness.machines.gatewayUrl({ id: started.machineId! }));
    expect(health.credential).toMatchObject({ state: "valid", keyId: started.keyId });
    const [event] = await harness.database.db
      .select()
      .from(instanceEvents)
      .where(and(eq(instanceEvents.action, "refresh"), eq(instanceEvents.instanceId, started.id)));
    expect(event).toMatchObject({ outcome: "failure", actorType: "scheduler" });

    // Backing off: the next pass does not retry yet.
    expect(await refreshDueInstances({ thresholdHours: 72 }, harness.deps)).toMatchObject({ claimed: 0 });
    await stopInstance({ instanceId: started.id, actor: { type: "system", id: null } }, harness.deps);
  });
});

describe.each(testDrivers())("refresh points (%s)", (driver) => {
  let harness: LifecycleHarness;
  beforeAll(async () => {
    harness = await createLifecycleHarness(driver);
  });
  afterAll(async () => {
    await harness?.close();
  });

  it("spread later by up to 10 % of the threshold, per instance; the SQL twin agrees with refreshPointOf", async () => {
    const owner = await harness.createUser();
    const expiry = new Date("2031-01-31T00:00:00Z");
    const ids = ["00000000-0000-4000-8000-000000000000", "ffffffff-ffff-4fff-bfff-ffffffffffff", ...Array.from({ length: 200 }, () => randomUUID())];
    await harness.database.db.insert(instances).values(
      ids.map((id) => ({ id, ownerId: owner.id, name: "point", provider: "local" as const, region: "local", imageTag: "latest", deployedKeyExpiresAt: expiry })),
    );
    const rows = await harness.database.db.select({ id: instances.id, deployedKeyExpiresAt: instances.deployedKeyExpiresAt, point: refreshPointSql(240) }).from(instances).where(inArray(instances.id, ids));
    expect(rows).toHaveLength(ids.length);
    const leads = new Set<number>();
    for (const row of rows) {
      const expected = refreshPointOf(row, 240)!;
      expect(Math.abs(new Date(row.point).getTime() - expected.getTime()), row.id).toBeLessThanOrEqual(1);
      const leadHours = (expiry.getTime() - expected.getTime()) / 3_600_000;
      expect(leadHours).toBeGreaterThan(216 - 1e-6);
      expect(leadHours).toBeLessThanOrEqual(240);
      leads.add(Math.round(leadHours));
    }
    expect(refreshJitterOf(ids[0]!)).toBe(0);
    expect(refreshJitterOf(ids[1]!)).toBeCloseTo(1, 6);
    // Spread, not bunched: random ids land across the whole 24-hour window.
    expect(leads.size).toBeGreaterThan(15);
    expect(refreshPointOf({ id: ids[0]!, deployedKeyExpiresAt: null }, 240)).toBeNull();
  });
});

describe.each(realPostgresDrivers())("concurrent scheduler passes (%s)", (driver) => {
  let harness: LifecycleHarness;
  beforeAll(async () => {
    harness = await createLifecycleHarness(driver);
  });
  afterAll(async () => {
    await harness?.close();
  });

  it("two replicas' passes never refresh the same instance twice", async () => {
    const due = await Promise.all([runningInstance(harness), runningInstance(harness), runningInstance(harness), runningInstance(harness)]);
    for (const { started } of due) await expireSoon(harness, started.id);
    const [first, second] = await Promise.all([
      refreshDueInstances({ thresholdHours: 72, concurrency: 2 }, harness.deps),
      refreshDueInstances({ thresholdHours: 72, concurrency: 2 }, harness.deps),
    ]);
    const refreshedIds = [...first!.results, ...second!.results].map((result) => result.instanceId).sort();
    expect(refreshedIds).toEqual(due.map(({ started }) => started.id).sort());
    expect(first!.failed + second!.failed).toBe(0);
    const events = await harness.database.db
      .select()
      .from(instanceEvents)
      .where(and(eq(instanceEvents.action, "refresh"), inArray(instanceEvents.instanceId, refreshedIds)));
    expect(events).toHaveLength(4);
    for (const { started } of due) await stopInstance({ instanceId: started.id, actor: { type: "system", id: null } }, harness.deps);
  });
});

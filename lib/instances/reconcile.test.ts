import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instances } from "@/db/schema";
import { testDrivers } from "@/test/db";
import { createLocalMachineProvider, type LocalMachineProvider } from "@/lib/machines/local/provider";
import { reconcileStaleInstances } from "./reconcile";
import { startInstance } from "./start";
import { getInstanceStatus } from "./status";
import { createLifecycleHarness, type LifecycleHarness } from "@/test/instances/harness";

describe.each(testDrivers())("reconciling status drift (%s)", (driver) => {
  let harness: LifecycleHarness;
  beforeAll(async () => {
    harness = await createLifecycleHarness(driver);
  });
  afterAll(async () => {
    await harness?.close();
  });

  it("a machine that died behind our back shows up on the next status read", async () => {
    const owner = await harness.createUser();
    const row = await harness.provision(owner.id);
    const started = await startInstance({ instanceId: row.id, actor: { type: "user", id: owner.id } }, harness.deps);
    const machines = harness.machines as LocalMachineProvider;
    process.kill(machines.processOf(started.machineId!)!.pid, "SIGKILL");
    await expect.poll(async () => (await machines.get(started.machineId!)).state, { timeout: 5_000 }).toBe("failed");

    const status = await getInstanceStatus({ instanceId: row.id, ownerId: owner.id }, harness.deps);
    expect(status.status).toBe("failed");
  });

  it("after an app restart, instances whose machines are gone are marked and start again on a new machine", async () => {
    const owner = await harness.createUser();
    const row = await harness.provision(owner.id);
    const started = await startInstance({ instanceId: row.id, actor: { type: "user", id: owner.id } }, harness.deps);

    // A new provider knows none of the old machines, as after a restart of the app.
    const restarted = createLocalMachineProvider({ onOutput: () => {} });
    const deps = { ...harness.deps, machines: restarted };
    try {
      const summary = await reconcileStaleInstances({ staleAfterMs: 0 }, deps);
      expect(summary.changed).toBeGreaterThanOrEqual(1);
      const [after] = await harness.database.db.select().from(instances).where(eq(instances.id, row.id));
      expect(after).toMatchObject({ status: "failed", machineId: null, lastErrorCode: "machine_missing" });

      const again = await startInstance({ instanceId: row.id, actor: { type: "user", id: owner.id } }, deps);
      expect(again.status).toBe("running");
      expect(again.machineId).not.toBe(started.machineId);
      expect(again.lastErrorCode).toBeNull();
    } finally {
      await restarted.close();
    }
  });
});

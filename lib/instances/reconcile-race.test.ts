import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instances } from "@/db/schema";
import type { MachineProvider } from "@/lib/machines/types";
import { reconcileInstance } from "./reconcile";
import { redeployInstance } from "./redeploy";
import { startInstance } from "./start";
import { createLifecycleHarness, type LifecycleHarness } from "@/test/instances/harness";

describe("reconcile racing an operation", () => {
  let harness: LifecycleHarness;
  beforeAll(async () => {
    harness = await createLifecycleHarness("pglite");
  });
  afterAll(async () => {
    await harness?.close();
  });

  it("drops an observation made before an operation that finished meanwhile, instead of overwriting its result", async () => {
    const owner = await harness.createUser();
    const provisioned = await harness.provision(owner.id);
    const actor = { type: "user", id: owner.id } as const;
    const running = await startInstance({ instanceId: provisioned.id, actor }, harness.deps);
    const real = harness.machines;

    // The provider answers "stopped" (true when asked: the machine was stopped), and before that
    // answer reaches reconcile a redeploy runs to completion on another path.
    const slowObserver: MachineProvider = Object.create(real, {
      get: {
        value: async (machineId: string) => {
          await real.stop(machineId);
          const observed = await real.get(machineId);
          await redeployInstance({ instanceId: provisioned.id, actor }, harness.deps);
          return observed;
        },
      },
    });
    const after = await reconcileInstance(running, { ...harness.deps, machines: slowObserver, reconcileIntervalMs: 0 });

    const [row] = await harness.database.db.select().from(instances).where(eq(instances.id, provisioned.id));
    expect((await real.get(running.machineId!)).state).toBe("started");
    expect(row).toMatchObject({ status: "running", leaseToken: null });
    expect(row!.machineVersion).not.toBe(running.machineVersion);
    expect(after.status).toBe("running");
  });
});

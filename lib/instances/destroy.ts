import type { InstanceRow } from "@/db/schema";
import { notifyKeyStateChanged } from "@/lib/keys/invalidation";
import type { LifecycleDeps } from "./deps";
import { runOperation } from "./operation";
import type { InstanceOperationInput } from "./start";

/**
 * Destroys the instance's machine (forcefully) and marks the instance destroyed, wiping its stored
 * key. Its API key stops authenticating at once: whoami rejects keys of destroyed instances, and
 * every replica's cache is told through Postgres, in the transaction that marks it destroyed. Destroying a machine that is already gone is
 * fine; a destroyed instance is 404 afterwards, so a repeat call answers not_found.
 */
export async function destroyInstance(input: InstanceOperationInput, deps: LifecycleDeps): Promise<InstanceRow> {
  const row = await runOperation({ ...input, operation: "destroy" }, deps, async (context) => {
    const { machineId } = context.lease.row;
    await context.update({ leaseStep: "destroying_machine", status: "destroying" });
    if (machineId) {
      context.machineTouched = true;
      await context.time("machine", () => context.deps.machines.destroy(machineId, { force: true }));
    }
    return {
      values: { status: "destroyed", destroyedAt: deps.now(), encryptedKey: null },
      // Committed with the destroy: no replica hears of it before the row says destroyed, and none misses it.
      withRelease: (tx) => notifyKeyStateChanged(tx, { instanceId: context.lease.instanceId }),
    };
  });
  deps.keyStateCache?.invalidate({ instanceId: row.id });
  return row;
}

import type { InstanceRow } from "@/db/schema";
import type { LifecycleDeps } from "./deps";
import { deployWithFreshKey } from "./deploy";
import { runOperation } from "./operation";
import type { InstanceOperationInput } from "./start";

/**
 * Redeploys the instance (running or not) with a freshly minted key, restarting its machine.
 * When no usable key exists it fails `key_unavailable` before the machine is touched, so a running
 * instance keeps running with its current key. A concurrent operation makes it fail
 * `operation_in_progress`.
 */
export async function redeployInstance(input: InstanceOperationInput, deps: LifecycleDeps): Promise<InstanceRow> {
  return runOperation({ ...input, operation: "redeploy", firstStep: "minting_key", mints: true }, deps, (context) => deployWithFreshKey(context, "restarting"));
}

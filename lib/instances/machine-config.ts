import type { InstanceRow } from "@/db/schema";
import { gatewayMachineConfig } from "@/lib/machines/gateway-config";
import type { MachineConfig } from "@/lib/machines/types";
import type { LifecycleDeps } from "./deps";

/** `registry/image:tag` with the instance's tag in place of the configured one. */
export function imageWithTag(image: string, tag: string): string {
  const lastSlash = image.lastIndexOf("/");
  const colon = image.indexOf(":", lastSlash + 1);
  return `${colon === -1 ? image : image.slice(0, colon)}:${tag}`;
}

/**
 * The machine's complete config for an instance running `apiKey` (updates replace the whole
 * config, so it is always built in full). The metadata lets an orphaned machine, created just
 * before a crash, be found and adopted instead of duplicated.
 */
export function buildMachineConfig(
  row: Pick<InstanceRow, "id" | "ownerId" | "imageTag">,
  apiKey: string,
  deps: Pick<LifecycleDeps, "image" | "whoamiUrl" | "gatewayTokenSecret" | "gatewayKeyCheckIntervalMs">,
): MachineConfig {
  const config = gatewayMachineConfig({
    instanceId: row.id,
    apiKey,
    image: imageWithTag(deps.image, row.imageTag),
    whoamiUrl: deps.whoamiUrl,
    gatewayTokenSecret: deps.gatewayTokenSecret,
    keyCheckIntervalMs: deps.gatewayKeyCheckIntervalMs,
  });
  return { ...config, metadata: { ...config.metadata, fleetdeck_owner_id: row.ownerId } };
}

export function machineNameFor(instanceId: string): string {
  return `fleetdeck-${instanceId}`;
}

import { gatewayTokenFor } from "./gateway-token";
import type { MachineConfig, MachineGuest } from "./types";

/** Metadata key that ties a machine to its instance (find it again with `list({ metadata })`). */
export const INSTANCE_METADATA_KEY = "fleetdeck_instance_id";

/** The control plane's whoami endpoint under a base URL (GATEWAY_CALLBACK_URL, else NEXTAUTH_URL). */
export function whoamiUrlFor(callbackBaseUrl: string): string {
  return new URL("/api/gateway/whoami", callbackBaseUrl).toString();
}

export interface GatewayMachineConfigInput {
  instanceId: string;
  /** The instance's KiloCode API key. Goes into the machine env only. */
  apiKey: string;
  /** GATEWAY_IMAGE (Fly); ignored by the local provider. */
  image: string;
  /** Full whoami URL, see `whoamiUrlFor`. */
  whoamiUrl: string;
  /** GATEWAY_TOKEN_SECRET; the machine gets only its own derived token. */
  gatewayTokenSecret: string;
  /** KEY_CHECK_INTERVAL_MS for the gateway; its default (60 s) when omitted. */
  keyCheckIntervalMs?: number;
  guest?: MachineGuest;
}

/**
 * The full machine config for an instance's gateway, in the one shape both providers and the gateway
 * program agree on (see gateway/README.md). Pure: the same input gives the same config, so a repeated
 * update with it changes nothing but the machine version.
 */
export function gatewayMachineConfig(input: GatewayMachineConfigInput): MachineConfig {
  return {
    image: input.image,
    env: {
      KILOCODE_API_KEY: input.apiKey,
      FLEETDECK_WHOAMI_URL: input.whoamiUrl,
      GATEWAY_TOKEN: gatewayTokenFor(input.instanceId, input.gatewayTokenSecret),
      INSTANCE_ID: input.instanceId,
      ...(input.keyCheckIntervalMs !== undefined ? { KEY_CHECK_INTERVAL_MS: String(input.keyCheckIntervalMs) } : {}),
    },
    metadata: { [INSTANCE_METADATA_KEY]: input.instanceId },
    ...(input.guest ? { guest: input.guest } : {}),
  };
}

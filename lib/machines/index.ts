import "server-only";
import { getEnv, type Env } from "@/shared/env";
import { createFlyMachineProvider, type FlyMachineProviderOptions } from "./fly/provider";
import { logger } from "@/shared/logger";
import { createLocalMachineProvider, type LocalMachineProviderOptions } from "./local/provider";
import { DEFAULT_LOCAL_APP } from "./local/service";
import type { MachineProvider } from "./types";

export * from "./types";
export { gatewayTokenFor } from "./gateway-token";
export {
  gatewayMachineConfig,
  INSTANCE_METADATA_KEY,
  whoamiUrlFor,
  type GatewayMachineConfigInput,
} from "./gateway-config";
export {
  getGatewayHealth,
  pushKeyToGateway,
  waitForGatewayCredential,
  type GatewayCredential,
  type GatewayCredentialState,
  type GatewayHealth,
  type KeyPushResult,
} from "./gateway-client";

/** The environment settings that choose and configure a provider (a subset of `Env`). */
export type MachineProviderSettings = Pick<Env, "MACHINE_PROVIDER"> &
  Partial<Pick<Env, "FLY_API_TOKEN" | "FLY_API_HOSTNAME" | "FLY_APP_NAME" | "FLY_REGION" | "LOCAL_MACHINES_URL" | "LOCAL_MACHINES_TOKEN">>;

/**
 * Builds the provider the settings name: `fly`, or `local` (the default). `local` with
 * `LOCAL_MACHINES_URL` drives the host's machine service (lib/machines/local/service.ts) through the
 * Fly client, so machines are shared by every replica and outlive each of them; without it, machines
 * are child processes of this process (one replica only, gone when it exits). Throws a plain Error
 * naming the missing setting when `fly` lacks its token or app (shared/env already refuses that).
 * Each call makes a new, independent provider; the app should use `getMachineProvider()`.
 */
export function createMachineProvider(
  settings: MachineProviderSettings,
  overrides: { local?: LocalMachineProviderOptions; fly?: Partial<FlyMachineProviderOptions> } = {},
): MachineProvider {
  if (settings.MACHINE_PROVIDER === "fly") {
    return createFlyMachineProvider({
      token: settings.FLY_API_TOKEN ?? "",
      app: settings.FLY_APP_NAME ?? "",
      ...(settings.FLY_API_HOSTNAME ? { apiHostname: settings.FLY_API_HOSTNAME } : {}),
      ...(settings.FLY_REGION ? { region: settings.FLY_REGION } : {}),
      ...overrides.fly,
    });
  }
  if (settings.LOCAL_MACHINES_URL) {
    const serviceUrl = settings.LOCAL_MACHINES_URL.replace(/\/+$/, "");
    const client = createFlyMachineProvider({
      token: settings.LOCAL_MACHINES_TOKEN ?? "",
      app: DEFAULT_LOCAL_APP,
      apiHostname: serviceUrl,
      region: "local",
      gatewayUrlFor: (machineId) => `${serviceUrl}/gateways/${encodeURIComponent(machineId)}`,
      ...overrides.fly,
    });
    return { ...client, name: "local" };
  }
  logger.warn("LOCAL_MACHINES_URL is not set: local machines run inside this process and stop with it (one replica only)");
  return createLocalMachineProvider(overrides.local);
}

// On globalThis, not in a module variable: Next's dev server re-evaluates modules on every edit, and a
// fresh local provider would forget (and orphan) the machine processes the previous one started.
const GLOBAL_KEY = Symbol.for("fleetdeck.machines.provider");
type ProviderHolder = { [GLOBAL_KEY]?: MachineProvider };

/** The process-wide provider, created from the environment on first use and kept across hot reloads. */
export function getMachineProvider(): MachineProvider {
  const holder = globalThis as ProviderHolder;
  holder[GLOBAL_KEY] ??= createMachineProvider(getEnv());
  return holder[GLOBAL_KEY];
}

/**
 * Closes and forgets the process-wide provider (graceful shutdown, tests). The local provider kills its
 * machines. Safe to call when none was created; the next `getMachineProvider()` makes a new one.
 */
export async function closeMachineProvider(): Promise<void> {
  const holder = globalThis as ProviderHolder;
  const provider = holder[GLOBAL_KEY];
  delete holder[GLOBAL_KEY];
  await provider?.close();
}

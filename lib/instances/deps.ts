import { getDatabaseHandle, type Database } from "@/db";
import { getEnv } from "@/shared/env";
import { keyRingFromEnv } from "@/lib/tokens/configured";
import type { KeyRing } from "@/lib/tokens/key-ring";
import { requireEncryptionKey } from "@/lib/keys/encryption";
import type { KeyStateCache } from "@/lib/keys/key-state-cache";
import { getKeyStateCache } from "@/lib/keys/runtime";
import { getMachineProvider, whoamiUrlFor } from "@/lib/machines";
import type { MachineProvider } from "@/lib/machines/types";
import { AppError } from "@/lib/errors";
import { MINT_TIMEOUT_MS } from "@/lib/keys/mint";
import { DEFAULT_LEASE_TTL_MS } from "./lease";
import type { UserLimits } from "@/lib/limits/rate-limit";

export interface LifecycleTimeouts {
  /** Budget of the key mint (DESIGN: 5 s). */
  mintMs: number;
  /** How long a machine may take to reach `started` / `stopped`. */
  machineWaitMs: number;
  /** How long the gateway may take to confirm the new key authenticates. */
  credentialMs: number;
  /** Operation lease time-to-live, renewed by a heartbeat (every third of it) and before every machine write. */
  leaseMs: number;
}

export const DEFAULT_TIMEOUTS: LifecycleTimeouts = {
  mintMs: MINT_TIMEOUT_MS,
  machineWaitMs: 90_000,
  credentialMs: 20_000,
  leaseMs: DEFAULT_LEASE_TTL_MS,
};

/** Everything the lifecycle functions need, passed in so tests hand them real parts of their own. */
export interface LifecycleDeps {
  db: Database;
  machines: MachineProvider;
  /**
   * NEXTAUTH_SECRET signs, NEXTAUTH_SECRET_PREVIOUS only verifies (the fallback's check of a stored
   * key); undefined makes every minting operation fail `misconfigured` before any work.
   */
  keyRing: KeyRing | undefined;
  encryptionKey: Buffer;
  gatewayTokenSecret: string;
  /** Full URL instances call to prove who they are (`…/api/gateway/whoami`). */
  whoamiUrl: string;
  /** Container image for new machines (the local provider runs the bundled gateway instead). */
  image: string;
  defaultRegion: string;
  /** KILO_TOKEN_ENV claim, when keys are bound to one environment. */
  tokenEnv?: string;
  /** FALLBACK_MIN_REMAINING_MINUTES: the least life a stored key needs to be deployed as a fallback. */
  fallbackMinRemainingMs: number;
  /** REFRESH_CONCURRENCY: refreshes one scheduler pass runs at once. */
  refreshConcurrency: number;
  /** Test seams: called at fixed points of an operation, so a test can change the world exactly there. */
  hooks?: { afterKeyStored?(instanceId: string): Promise<void> };
  /** This process's key cache, dropped at once when an instance is destroyed. */
  keyStateCache?: KeyStateCache;
  now: () => Date;
  timeouts: LifecycleTimeouts;
  /** How often a status read may re-check the machine with the provider. */
  reconcileIntervalMs: number;
  /** How often each gateway re-checks its key with whoami (so a revocation shows on /health). */
  gatewayKeyCheckIntervalMs: number;
  /** Instance quota and per-user operation rate limit (lib/limits); unset, neither applies. */
  limits?: UserLimits;
}

/** The process-wide dependencies, from the environment. */
export async function getLifecycleDeps(): Promise<LifecycleDeps> {
  const env = getEnv();
  if (!env.GATEWAY_TOKEN_SECRET) {
    throw new AppError("misconfigured", "Instance operations are disabled: GATEWAY_TOKEN_SECRET is not configured.");
  }
  const callbackBase = env.GATEWAY_CALLBACK_URL ?? env.NEXTAUTH_URL ?? "http://localhost:3000";
  const [handle, keyStateCache] = await Promise.all([getDatabaseHandle(), getKeyStateCache()]);
  return {
    db: handle.db,
    machines: getMachineProvider(),
    keyRing: keyRingFromEnv(env),
    encryptionKey: requireEncryptionKey(env),
    gatewayTokenSecret: env.GATEWAY_TOKEN_SECRET,
    whoamiUrl: whoamiUrlFor(callbackBase),
    image: env.GATEWAY_IMAGE,
    defaultRegion: env.MACHINE_PROVIDER === "fly" ? env.FLY_REGION : "local",
    tokenEnv: env.KILO_TOKEN_ENV,
    fallbackMinRemainingMs: env.FALLBACK_MIN_REMAINING_MINUTES * 60_000,
    refreshConcurrency: env.REFRESH_CONCURRENCY,
    keyStateCache,
    now: () => new Date(),
    timeouts: { ...DEFAULT_TIMEOUTS, leaseMs: env.OPERATION_LEASE_SECONDS ? env.OPERATION_LEASE_SECONDS * 1000 : DEFAULT_LEASE_TTL_MS },
    reconcileIntervalMs: 10_000,
    gatewayKeyCheckIntervalMs: 60_000,
    limits: { maxInstancesPerUser: env.MAX_INSTANCES_PER_USER, operationsPerMinute: env.OPERATION_RATE_LIMIT_PER_MINUTE },
  };
}

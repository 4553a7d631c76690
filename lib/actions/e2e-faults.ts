import { cookies } from "next/headers";
import { getEnv } from "@/shared/env";
import type { LifecycleDeps } from "@/lib/instances";
import { delayRekey } from "@/lib/scheduler/rekey";

/** Browser cookie that asks for a fault, honoured only when the server runs with FLEETDECK_E2E_FAULTS=1. */
export const E2E_FAULT_COOKIE = "fleetdeck_e2e_fault";

/**
 * Test-only lever for the e2e suite, off unless the server was started with
 * `FLEETDECK_E2E_FAULTS=1` (only e2e/start-server.ts does that). With it on, a browser carrying
 * `fleetdeck_e2e_fault=mint_unavailable` gets lifecycle deps whose mint budget is 1 ms, so the real
 * mint code times out (KeyMintTimeoutError) and the real fallback rule decides what happens next.
 * It can only make the caller's own operations fail; it never grants anything.
 */
export async function withE2eFaults(deps: LifecycleDeps): Promise<LifecycleDeps> {
  if ((await e2eFaults()).includes("mint_unavailable")) return { ...deps, timeouts: { ...deps.timeouts, mintMs: 1 } };
  return deps;
}

/**
 * The same lever for "Revoke all API keys": `slow_rekey` holds the live re-key of the caller's
 * instances for fifteen seconds (so the suite sees them re-keying, even on a busy machine),
 * `held_rekey` for a minute (so a test can act on the revoked keys first). Only ever delays the
 * caller's own re-key.
 */
export async function applyE2eRekeyFaults(userId: string): Promise<void> {
  const faults = await e2eFaults();
  if (faults.includes("held_rekey")) delayRekey(userId, 60_000);
  else if (faults.includes("slow_rekey")) delayRekey(userId, 15_000);
}

/** The faults this browser asks for (comma-separated in the cookie); none unless FLEETDECK_E2E_FAULTS=1. */
async function e2eFaults(): Promise<string[]> {
  if (getEnv().FLEETDECK_E2E_FAULTS !== "1") return [];
  return ((await cookies()).get(E2E_FAULT_COOKIE)?.value ?? "").split(",");
}

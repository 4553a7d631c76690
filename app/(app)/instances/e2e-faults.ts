import { cookies } from "next/headers";
import { getEnv } from "@/lib/env";
import type { LifecycleDeps } from "@/lib/instances";

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
  if (getEnv().FLEETDECK_E2E_FAULTS !== "1") return deps;
  const fault = (await cookies()).get(E2E_FAULT_COOKIE)?.value;
  if (fault === "mint_unavailable") return { ...deps, timeouts: { ...deps.timeouts, mintMs: 1 } };
  return deps;
}

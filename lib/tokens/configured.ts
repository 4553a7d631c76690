import { getEnv, type Env } from "@/shared/env";
import { keyRingIds, type KeyRing, type SigningKeyIds } from "./key-ring";

/** The key ring from the environment, or undefined without NEXTAUTH_SECRET (minting is then disabled). */
export function keyRingFromEnv(env: Env): KeyRing | undefined {
  return env.NEXTAUTH_SECRET ? { current: env.NEXTAUTH_SECRET, previous: env.NEXTAUTH_SECRET_PREVIOUS } : undefined;
}

/**
 * The `kid`s of this process's key ring, from the environment (read once, like the environment).
 * What key health judges stored keys against when the caller has no ring of its own; null without
 * NEXTAUTH_SECRET (nothing can be signed then, and no stored key can be judged by its signer).
 */
export function configuredSigningKeyIds(): SigningKeyIds | null {
  const ring = keyRingFromEnv(getEnv());
  return ring ? keyRingIds(ring) : null;
}

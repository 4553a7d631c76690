import { getEnv, keyRingFromEnv } from "@/lib/env";
import { keyRingIds, type SigningKeyIds } from "./key-ring";

/**
 * The `kid`s of this process's key ring, from the environment (read once, like the environment).
 * What key health judges stored keys against when the caller has no ring of its own; null without
 * NEXTAUTH_SECRET (nothing can be signed then, and no stored key can be judged by its signer).
 */
export function configuredSigningKeyIds(): SigningKeyIds | null {
  const ring = keyRingFromEnv(getEnv());
  return ring ? keyRingIds(ring) : null;
}

import { AppError } from "@/lib/errors";
import type { KeyRing } from "@/lib/tokens/key-ring";

/**
 * NEXTAUTH_SECRET signs every API key (NEXTAUTH_SECRET_PREVIOUS only verifies). Routes and
 * lifecycle operations call this before any work, so a missing secret is a fast
 * `503 misconfigured`, never a half-done operation.
 */
export function assertKeyRing(ring: KeyRing | undefined): KeyRing {
  if (!ring) {
    throw new AppError("misconfigured", "Key signing and verification are disabled: NEXTAUTH_SECRET is not configured.");
  }
  return ring;
}

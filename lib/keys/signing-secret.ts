import { AppError } from "@/lib/errors";

/**
 * NEXTAUTH_SECRET signs and verifies every API key. Routes and lifecycle operations call this
 * before any work, so a missing secret is a fast `503 misconfigured`, never a half-done operation.
 */
export function assertSigningSecret(secret: string | undefined): string {
  if (!secret) {
    throw new AppError("misconfigured", "Key signing and verification are disabled: NEXTAUTH_SECRET is not configured.");
  }
  return secret;
}

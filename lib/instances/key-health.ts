import type { InstanceRow } from "@/db/schema";
import type { KeyHealth } from "./schemas";

const DAY_MS = 24 * 60 * 60 * 1000;
export const EXPIRING_WITHIN_MS = 7 * DAY_MS;
export const CRITICAL_WITHIN_MS = 3 * DAY_MS;

export type KeyHealthFields = Pick<
  InstanceRow,
  "keyId" | "keyExpiresAt" | "keyRevokedAt" | "keyPepperFingerprint" | "deployedKeyId" | "deployedKeyExpiresAt"
>;

/**
 * The health of the key an instance runs with, from its row, its owner's current pepper
 * fingerprint and `now` (pure). In order of precedence:
 * - `revoked`: the key was minted under a pepper that is no longer current;
 * - `unknown`: no expiry recorded for the key in use;
 * - `undeployed`: the latest minted key is not the one confirmed on the machine;
 * - `expired`, `critical` (≤ 3 days), `expiring` (≤ 7 days), `ok`.
 */
export function computeKeyHealth(row: KeyHealthFields, currentPepperFingerprint: string | null, now: Date): KeyHealth {
  const revoked =
    row.keyRevokedAt !== null ||
    (currentPepperFingerprint !== null && row.keyPepperFingerprint !== null && row.keyPepperFingerprint !== currentPepperFingerprint);
  if (revoked) return "revoked";
  const expiresAt = row.deployedKeyExpiresAt ?? row.keyExpiresAt;
  if (!expiresAt || Number.isNaN(expiresAt.getTime())) return "unknown";
  if (row.keyId !== null && row.deployedKeyId !== row.keyId) return "undeployed";
  const remaining = expiresAt.getTime() - now.getTime();
  if (remaining <= 0) return "expired";
  if (remaining <= CRITICAL_WITHIN_MS) return "critical";
  if (remaining <= EXPIRING_WITHIN_MS) return "expiring";
  return "ok";
}

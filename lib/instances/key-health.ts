import type { InstanceRow } from "@/db/schema";
import { signingKeyStatus, type SigningKeyIds } from "@/lib/tokens/key-ring";
import type { KeyHealth } from "./schemas";

const DAY_MS = 24 * 60 * 60 * 1000;
export const EXPIRING_WITHIN_MS = 7 * DAY_MS;
export const CRITICAL_WITHIN_MS = 3 * DAY_MS;

export type KeyHealthFields = Pick<
  InstanceRow,
  "keyId" | "keyExpiresAt" | "keyRevokedAt" | "keyPepperFingerprint" | "keySigningKid" | "deployedKeyId" | "deployedKeyExpiresAt"
>;

/**
 * The health of the key an instance runs with, from its row, its owner's current pepper
 * fingerprint, the key ring's `kid`s and `now` (pure). In order of precedence:
 * - `revoked`: the key was minted under a pepper that is no longer current, or signed under a
 *   secret that is in no configured secret any more (the signing secret was retired);
 * - `unknown`: no expiry recorded for the key in use;
 * - `undeployed`: the latest minted key is not the one confirmed on the machine;
 * - `expired`, `critical` (≤ 3 days);
 * - `previous_signing_key`: valid, but signed under a secret being retired (the scheduler re-keys it);
 * - `expiring` (≤ 7 days), `ok`.
 * A key recorded without a `kid` (minted before keys carried one) is not judged by its signer.
 */
export function computeKeyHealth(
  row: KeyHealthFields,
  currentPepperFingerprint: string | null,
  now: Date,
  signingKeys: SigningKeyIds | null,
): KeyHealth {
  const signer = signingKeyStatus(signingKeys, row.keySigningKid);
  const revoked =
    row.keyRevokedAt !== null ||
    (currentPepperFingerprint !== null && row.keyPepperFingerprint !== null && row.keyPepperFingerprint !== currentPepperFingerprint) ||
    signer === "retired";
  if (revoked) return "revoked";
  const expiresAt = row.deployedKeyExpiresAt ?? row.keyExpiresAt;
  if (!expiresAt || Number.isNaN(expiresAt.getTime())) return "unknown";
  if (row.keyId !== null && row.deployedKeyId !== row.keyId) return "undeployed";
  const remaining = expiresAt.getTime() - now.getTime();
  if (remaining <= 0) return "expired";
  if (remaining <= CRITICAL_WITHIN_MS) return "critical";
  if (signer === "previous") return "previous_signing_key";
  if (remaining <= EXPIRING_WITHIN_MS) return "expiring";
  return "ok";
}

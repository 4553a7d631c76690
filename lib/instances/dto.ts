import type { InstanceEventRow, InstanceRow } from "@/db/schema";
import { configuredSigningKeyIds } from "@/lib/tokens/configured";
import type { SigningKeyIds } from "@/lib/tokens/key-ring";
import { computeKeyHealth } from "./key-health";
import type { LifecycleOperation, OperationStep } from "./operation-steps";
import type { KeyHealth, RekeyState } from "./schemas";

/** The operations a user (or an admin, recorded as the admin) runs on an instance from the UI. */
export type InstanceOperation = Extract<LifecycleOperation, "start" | "stop" | "redeploy">;

const iso = (date: Date | null | undefined) => (date ? date.toISOString() : null);

/** Lifecycle state only: status, machine and timestamps. No key fields. */
export interface InstanceStatusDto {
  id: string;
  name: string;
  status: InstanceRow["status"];
  provider: InstanceRow["provider"];
  machineId: string | null;
  region: string;
  imageTag: string;
  operation: { name: LifecycleOperation; step: OperationStep | null } | null;
  lastError: { code: string; message: string; at: string | null } | null;
  createdAt: string;
  updatedAt: string;
  lastActivityAt: string;
}

/** Key metadata: ids, expiries, source and health. Never the key. */
export interface InstanceConfigDto {
  id: string;
  keyId: string | null;
  keySource: InstanceRow["keySource"];
  keyHealth: KeyHealth;
  keyExpiresAt: string | null;
  keyMintedAt: string | null;
  keyRevokedAt: string | null;
  deployedKeyId: string | null;
  deployedKeyExpiresAt: string | null;
  deployedAt: string | null;
  /**
   * When the key the instance runs on expires: the deployed key's expiry, or the latest minted
   * key's while none is confirmed deployed yet. The one expiry the UI shows for an instance.
   */
  activeKeyExpiresAt: string | null;
  /** The latest minted key is not (yet) the one running on the machine. */
  deployedDiffersFromLatest: boolean;
  /** A running instance whose key is revoked is re-keyed live, without a restart: how that stands. */
  rekey: RekeyState | null;
}

export type InstanceDto = InstanceStatusDto & { config: InstanceConfigDto };

/**
 * An operation is in progress only while its lease is live: a replica that died mid-operation left
 * an expired lease behind, and that instance is operable again (another caller takes the lease over).
 */
export function liveOperationOf(row: Pick<InstanceRow, "leaseOperation" | "leaseStep" | "leaseExpiresAt">, now: Date): InstanceStatusDto["operation"] {
  if (!row.leaseOperation || !row.leaseExpiresAt || row.leaseExpiresAt <= now) return null;
  // The columns hold only what lease.ts writes, from the lists in operation-steps.ts.
  return { name: row.leaseOperation as LifecycleOperation, step: row.leaseStep as OperationStep | null };
}

export function toInstanceStatusDto(row: InstanceRow, now: Date = new Date()): InstanceStatusDto {
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    provider: row.provider,
    machineId: row.machineId,
    region: row.region,
    imageTag: row.imageTag,
    operation: liveOperationOf(row, now),
    lastError: row.lastErrorCode ? { code: row.lastErrorCode, message: row.lastErrorMessage ?? "", at: iso(row.lastErrorAt) } : null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    lastActivityAt: row.lastActivityAt.toISOString(),
  };
}

/** `signingKeys` defaults to this process's key ring (NEXTAUTH_SECRET and NEXTAUTH_SECRET_PREVIOUS). */
export function toInstanceConfigDto(
  row: InstanceRow,
  currentPepperFingerprint: string | null,
  now: Date,
  signingKeys: SigningKeyIds | null = configuredSigningKeyIds(),
): InstanceConfigDto {
  const keyHealth = computeKeyHealth(row, currentPepperFingerprint, now, signingKeys);
  return {
    id: row.id,
    keyId: row.keyId,
    keySource: row.keySource,
    keyHealth,
    keyExpiresAt: iso(row.keyExpiresAt),
    keyMintedAt: iso(row.keyMintedAt),
    keyRevokedAt: iso(row.keyRevokedAt),
    deployedKeyId: row.deployedKeyId,
    deployedKeyExpiresAt: iso(row.deployedKeyExpiresAt),
    deployedAt: iso(row.deployedAt),
    activeKeyExpiresAt: iso(row.deployedKeyExpiresAt ?? row.keyExpiresAt),
    deployedDiffersFromLatest: row.keyId !== null && row.keyId !== row.deployedKeyId,
    rekey: rekeyStateOf(row, keyHealth),
  };
}

/**
 * A running instance with a revoked key is due for a live refresh (the rotation kicks one at once,
 * the scheduler is the backstop): `in_progress` while the refresh holds the lease, `failed` once
 * a refresh failed (it retries with backoff; a redeploy fixes it now), `pending` before that.
 */
export function rekeyStateOf(
  row: Pick<InstanceRow, "status" | "leaseOperation" | "refreshAttempts" | "lastErrorCode">,
  keyHealth: KeyHealth,
): RekeyState | null {
  if (row.status !== "running" || keyHealth !== "revoked") return null;
  if (row.leaseOperation === "refresh") return "in_progress";
  return row.refreshAttempts > 0 && row.lastErrorCode !== null ? "failed" : "pending";
}

export function toInstanceDto(
  row: InstanceRow,
  currentPepperFingerprint: string | null,
  now: Date,
  signingKeys: SigningKeyIds | null = configuredSigningKeyIds(),
): InstanceDto {
  return { ...toInstanceStatusDto(row, now), config: toInstanceConfigDto(row, currentPepperFingerprint, now, signingKeys) };
}

export interface InstanceEventDto {
  id: number;
  action: string;
  outcome: InstanceEventRow["outcome"];
  actorType: InstanceEventRow["actorType"];
  actorId: string | null;
  keySource: InstanceEventRow["keySource"];
  keyId: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  durationMs: number | null;
  createdAt: string;
}

export function toInstanceEventDto(row: InstanceEventRow): InstanceEventDto {
  return {
    id: row.id,
    action: row.action,
    outcome: row.outcome,
    actorType: row.actorType,
    actorId: row.actorId,
    keySource: row.keySource,
    keyId: row.keyId,
    errorCode: row.errorCode,
    errorMessage: row.errorMessage,
    durationMs: row.durationMs,
    createdAt: row.createdAt.toISOString(),
  };
}

import type { InstanceRow } from "@/db/schema";
import { AppError } from "@/lib/errors";
import { chooseKeyToDeploy, type KeyToDeploy, type MintOutcome } from "@/lib/keys/choose-key";
import { waitForGatewayCredential } from "@/lib/machines/gateway-client";
import { recordKeyFallback } from "@/lib/metrics";
import { INSTANCE_METADATA_KEY } from "@/lib/machines/gateway-config";
import { isMachineError, type Machine, type MachineConfig } from "@/lib/machines/types";
import type { LifecycleDeps } from "./deps";
import { claimMachineWriteForKey, mintKeyFor, storeKeyUnderLease } from "./fresh-key";
import { buildMachineConfig, machineNameFor } from "./machine-config";
import type { MintingOperationContext, OperationContext, OperationResult } from "./operation";

/**
 * Mints a fresh key (or falls back to the stored one under the narrow rule), records it as the
 * latest key, then boots the machine with it and waits until the gateway confirms the key
 * authenticates; only then is it recorded as deployed. Shared by start and redeploy.
 *
 * When no usable key exists this throws `key_unavailable` before any machine call, so a running
 * machine keeps running untouched. A failure after the machine call leaves the new key stored as
 * latest but not deployed; the operation runner re-reads the machine's real state.
 */
export async function deployWithFreshKey(
  context: MintingOperationContext,
  transitionalStatus: "starting" | "restarting",
): Promise<OperationResult> {
  const { deps, lease } = context;
  const row = lease.row;

  const { key, mint } = await context.time("mint", () => chooseKey(context));
  context.key = { source: key.source, keyId: key.keyId };
  await context.time("persist", () => persistKey(context, key, mint));

  await claimMachineWriteForKey(context, key.keyId, { status: transitionalStatus, leaseStep: "updating_machine" });
  context.machineTouched = true;
  const config = buildMachineConfig(row, key.token, deps);
  const machine = await context.time("machine", () => applyMachineConfig(context, config));

  await context.update({ leaseStep: "waiting_for_start", machineId: machine.id, machineVersion: machine.version });
  await context.time("wait", () =>
    deps.machines.waitForState(machine.id, "started", { timeoutMs: deps.timeouts.machineWaitMs, version: machine.version }),
  );

  await context.update({ leaseStep: "verifying_credential", status: "running" });
  await context.time("credential", () => verifyGatewayCredential(deps, machine, key.keyId));

  return {
    values: {
      status: "running",
      ...deployedKeyValues(key, deps.now()),
      lastErrorCode: null,
      lastErrorMessage: null,
      lastErrorAt: null,
      refreshAttempts: 0,
      nextRefreshAttemptAt: null,
      statusCheckedAt: deps.now(),
    },
    details: { machineId: machine.id, machineVersion: machine.version },
  };
}

/** The row values that record `key` as the one confirmed on the machine. */
export function deployedKeyValues(
  key: Pick<KeyToDeploy, "keyId" | "jti" | "signingKid" | "expiresAt">,
  now: Date,
): Pick<InstanceRow, "deployedKeyId" | "deployedKeyJti" | "deployedKeySigningKid" | "deployedKeyExpiresAt" | "deployedAt"> {
  return {
    deployedKeyId: key.keyId,
    deployedKeyJti: key.jti,
    deployedKeySigningKid: key.signingKid,
    deployedKeyExpiresAt: key.expiresAt,
    deployedAt: now,
  };
}

async function chooseKey(context: MintingOperationContext): Promise<{ key: KeyToDeploy; mint: MintOutcome }> {
  const { deps, keyRing, lease } = context;
  let mint: MintOutcome;
  try {
    mint = { ok: true, key: await mintKeyFor(context) };
  } catch (error) {
    mint = { ok: false, error };
  }
  const key = await chooseKeyToDeploy({
    mint,
    stored: lease.row,
    now: deps.now(),
    encryptionKey: deps.encryptionKey,
    keyRing,
    tokenEnv: deps.tokenEnv,
    minRemainingMs: deps.fallbackMinRemainingMs,
  });
  if (key.source === "fallback" && !mint.ok) recordKeyFallback(mint.error);
  return { key, mint };
}

/** Persist, then deploy: the key is stored as latest before any machine sees it. */
async function persistKey(context: OperationContext, key: KeyToDeploy, mint: MintOutcome): Promise<void> {
  if (key.source === "fallback" || !mint.ok) {
    await context.update({ keySource: "fallback" });
    await context.deps.hooks?.afterKeyStored?.(context.lease.instanceId);
    return;
  }
  await storeKeyUnderLease(context, mint.key);
}

/**
 * Boots the instance's machine on the new config: updates the existing machine (which restarts
 * it), or creates one. A machine created just before a crash is found by its metadata and adopted
 * rather than duplicated; a machine that vanished is replaced.
 *
 * The update carries the version this operation expects (`current_version`): the one recorded on
 * the row, or — when the row has none, or this operation took over an interrupted one whose last
 * write may not have been recorded — the version the machine reports now. A machine that moved on
 * meanwhile answers 409, and the operation fails `operation_in_progress` without writing.
 */
async function applyMachineConfig(context: OperationContext, config: MachineConfig): Promise<Machine> {
  const { deps, lease } = context;
  const orphan = lease.row.machineId ? undefined : await findOrphanMachine(context);
  const machineId = lease.row.machineId ?? orphan?.id;
  if (machineId) {
    context.machineId = machineId;
    try {
      const currentVersion =
        orphan?.version ??
        (lease.row.machineVersion && !lease.interrupted ? lease.row.machineVersion : (await deps.machines.get(machineId)).version);
      return await deps.machines.update(machineId, { config, currentVersion });
    } catch (error) {
      if (!(isMachineError(error) && error.kind === "not_found")) throw error;
    }
  }
  const machine = await deps.machines.create({ name: machineNameFor(lease.instanceId), region: lease.row.region, config });
  context.machineId = machine.id;
  await context.update({ machineId: machine.id, machineVersion: machine.version });
  return machine;
}

async function findOrphanMachine(context: OperationContext): Promise<Machine | undefined> {
  const machines = await context.deps.machines.list({ metadata: { [INSTANCE_METADATA_KEY]: context.lease.instanceId } });
  return machines.find((machine) => machine.state !== "destroyed" && machine.state !== "destroying");
}

/** The gateway must report this very key as valid: the proof that the instance can authenticate. */
async function verifyGatewayCredential(deps: LifecycleDeps, machine: Machine, keyId: string): Promise<void> {
  const health = await waitForGatewayCredential(deps.machines.gatewayUrl(machine), {
    timeoutMs: deps.timeouts.credentialMs,
    // The gateway checks its key within milliseconds of booting; poll closely so nobody waits on us.
    intervalMs: 50,
    until: (credential) => credential.keyId === keyId,
  }).catch((error: unknown) => {
    throw new AppError(
      "credential_unverified",
      `The machine started but its gateway did not confirm the new key (${error instanceof Error ? error.message : "no answer"}).`,
    );
  });
  if (health.credential.state !== "valid") {
    throw new AppError(
      "credential_unverified",
      `The machine started but the control plane rejected its new key as ${health.credential.state}.`,
    );
  }
}

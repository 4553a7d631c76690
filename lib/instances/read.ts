import { getDb } from "@/db";
import type { GatewayCredentialState } from "@/lib/machines/gateway-client";
import { isAppError } from "@/lib/errors";
import { getLifecycleDeps, reconcileInstance, type LifecycleDeps } from "@/lib/instances";
import { toInstanceDto, toInstanceEventDto, type InstanceDto, type InstanceEventDto } from "@/lib/instances/dto";
import { getInstanceForUserOrThrow, listInstanceEvents, listInstancesForUser } from "@/lib/instances/queries";
import { currentPepperFingerprint } from "@/lib/instances/status";
import { getGatewayHealth } from "@/lib/machines/gateway-client";

export interface InstanceListData {
  instances: InstanceDto[];
  /** Set when lifecycle operations cannot run on this server (e.g. a missing secret), with why. */
  operationsDisabled: string | null;
  /** Server time of this read (ISO), so relative times render the same on server and client. */
  generatedAt: string;
}

/** What the instance's own gateway says about its key, read from its `/health`. */
export interface GatewayReport {
  state: GatewayCredentialState | "unreachable";
  keyId: string | null;
  expiresAt: string | null;
  checkedAt: string | null;
  message: string | null;
}

export interface InstanceDetailData {
  instance: InstanceDto;
  events: InstanceEventDto[];
  /** Null when the instance has no running machine to ask. */
  gateway: GatewayReport | null;
  operationsDisabled: string | null;
  generatedAt: string;
}

// Reads for the dashboard and instance pages (first render) and their polling routes. They shape
// rows into the same DTOs the JSON API returns; none of them touches a key.

const GATEWAY_HEALTH_TIMEOUT_MS = 1_500;
const RECENT_EVENTS = 25;

export type ReadDeps = { deps: LifecycleDeps; operationsDisabled: null } | { deps: null; operationsDisabled: string };

/**
 * The lifecycle deps, or why operations are disabled on this server. Reads still work without
 * them (straight from the database, without reconciling against the provider), so a
 * misconfigured server shows the user what it has and says what is wrong instead of crashing.
 */
export async function readDeps(): Promise<ReadDeps> {
  try {
    return { deps: await getLifecycleDeps(), operationsDisabled: null };
  } catch (error) {
    if (isAppError(error)) return { deps: null, operationsDisabled: error.message };
    throw error;
  }
}

/** The user's live instances, newest first, each reconciled with its machine at most every few seconds. */
export async function readInstanceList(userId: string): Promise<InstanceListData> {
  const { deps, operationsDisabled } = await readDeps();
  const db = deps?.db ?? (await getDb());
  const rows = await listInstancesForUser(db, userId);
  const reconciled = deps ? await Promise.all(rows.map((row) => reconcileInstance(row, deps))) : rows;
  const fingerprint = await currentPepperFingerprint({ db }, userId);
  const now = new Date();
  return {
    instances: reconciled.map((row) => toInstanceDto(row, fingerprint, now)),
    operationsDisabled,
    generatedAt: now.toISOString(),
  };
}

/**
 * One of the user's instances with its recent events and what its gateway reports. Throws
 * AppError `not_found` for another user's, a destroyed or a malformed id.
 */
export async function readInstanceDetail(userId: string, instanceId: string): Promise<InstanceDetailData> {
  const { deps, operationsDisabled } = await readDeps();
  const db = deps?.db ?? (await getDb());
  const stored = await getInstanceForUserOrThrow(db, userId, instanceId);
  const row = deps ? await reconcileInstance(stored, deps) : stored;
  const [fingerprint, events, gateway] = await Promise.all([
    currentPepperFingerprint({ db }, userId),
    listInstanceEvents(db, row.id, RECENT_EVENTS),
    deps && row.machineId && row.status === "running" ? readGatewayReport(deps, row.machineId) : null,
  ]);
  const now = new Date();
  return {
    instance: toInstanceDto(row, fingerprint, now),
    events: events.map(toInstanceEventDto),
    gateway,
    operationsDisabled,
    generatedAt: now.toISOString(),
  };
}

/** One short `/health` read: the gateway's own word on its credential, or `unreachable` and why. */
export async function readGatewayReport(deps: LifecycleDeps, machineId: string): Promise<GatewayReport> {
  try {
    const { credential } = await getGatewayHealth(deps.machines.gatewayUrl({ id: machineId }), { timeoutMs: GATEWAY_HEALTH_TIMEOUT_MS });
    return {
      state: credential.state,
      keyId: credential.keyId,
      expiresAt: credential.expiresAt?.toISOString() ?? null,
      checkedAt: credential.checkedAt?.toISOString() ?? null,
      message: credential.message ?? null,
    };
  } catch (error) {
    return {
      state: "unreachable",
      keyId: null,
      expiresAt: null,
      checkedAt: null,
      message: error instanceof Error ? error.message : "The gateway did not answer.",
    };
  }
}

import type { InstanceDto, InstanceEventDto } from "@/lib/instances/dto";
import type { GatewayCredentialState } from "@/lib/machines/gateway-client";

export type { InstanceDto, InstanceEventDto };

/** The operations a user can run from the dashboard. */
export type InstanceOperation = "start" | "stop" | "redeploy";

/** What a server action answers: expected failures are values (thrown errors are hidden in production). */
export type ActionResult<T> =
  | { ok: true; data: T }
  | { ok: false; error: { code: string; message: string; fields?: Record<string, string[]> } };

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

export interface RegionOption {
  value: string;
  label: string;
}

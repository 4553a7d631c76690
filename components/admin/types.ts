import type { FleetInstanceDto, FleetOverview, FleetPageWithPrevious } from "@/lib/admin/fleet";
import type { TimelineEventDto } from "@/lib/admin/instance-detail";
import type { FleetQuery } from "@/lib/admin/schemas";
import type { GatewayReport } from "@/components/instances/types";

export type { FleetInstanceDto, FleetOverview, TimelineEventDto };

export interface FleetViewData {
  query: FleetQuery;
  page: FleetPageWithPrevious;
  overview: FleetOverview;
  /** URL parameters that were not valid and were left out. */
  ignored: string[];
  /** Set when the URL's cursor no longer fits (the first page is shown instead). */
  cursorReset: boolean;
  /** Server time of this read (ISO), so relative times render the same on server and client. */
  generatedAt: string;
}

export interface AdminInstanceDetailData {
  instance: FleetInstanceDto;
  /** The newest events; older ones are fetched on demand from `olderBefore`. */
  events: TimelineEventDto[];
  olderBefore: number | null;
  /** What the instance's gateway reports about its key; null when no machine is running. */
  gateway: GatewayReport | null;
  /** The owner's running instances: how many "Revoke all keys of this user" re-keys live. */
  ownerRunningInstances: number;
  operationsDisabled: string | null;
  generatedAt: string;
}

export interface BulkTargetsResult {
  targets: { id: string; name: string; ownerEmail: string }[];
  /** More instances matched than one run may touch (`cap`). */
  truncated: boolean;
  cap: number;
}

/** The operations an admin runs on an instance (recorded as the admin in its events). */
export type AdminOperation = "start" | "stop" | "redeploy";

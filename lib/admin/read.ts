import { getDb } from "@/db";
import { listFleetPage, type FleetInstanceDto, type FleetPageWithPrevious } from "@/lib/admin/fleet-page";
import type { FleetOverview } from "@/lib/admin/overview";
import { parseFleetSearchParams, withoutCursor } from "@/lib/admin/fleet-url";
import { getFleetInstanceRecordOrThrow, listInstanceTimeline, toFleetInstanceDto, type TimelineEventDto } from "@/lib/admin/instance-detail";
import type { FleetQuery } from "@/lib/admin/schemas";
import { getCachedFleetOverview } from "@/lib/admin/overview-cache";
import { isAppError } from "@/lib/errors";
import { reconcileInstance } from "@/lib/instances";
import { countRunningInstancesOf } from "@/lib/instances/queries";
import { readDeps, readGatewayReport, type GatewayReport } from "@/lib/instances/read";

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

// Reads for the admin pages (first render) and their polling routes. Callers have checked that the
// user is an admin. They shape rows into the same DTOs as the admin API; none of them touches a key.

export const TIMELINE_PAGE = 50;

/** One page of the fleet and the overview, for the query in the page's URL. */
export async function readFleetView(searchParams: Record<string, string | string[] | undefined>): Promise<FleetViewData> {
  const db = await getDb();
  const { query, ignored } = parseFleetSearchParams(searchParams);
  const now = new Date();
  const [overview, { page, cursorReset }] = await Promise.all([
    getCachedFleetOverview(db),
    listFleetPage(db, query, now).then(
      (page) => ({ page, cursorReset: false }),
      async (error: unknown) => {
        // A link whose cursor belongs to another sort (or was mangled) shows the first page instead.
        if (!(isAppError(error) && error.code === "bad_request" && query.cursor)) throw error;
        return { page: await listFleetPage(db, withoutCursor(query), now), cursorReset: true };
      },
    ),
  ]);
  return { query: cursorReset ? withoutCursor(query) : query, page, overview, ignored, cursorReset, generatedAt: now.toISOString() };
}

/**
 * Any user's instance (destroyed ones too) with its owner, newest events and its gateway's report,
 * reconciled with its machine at most every few seconds. Throws AppError `not_found` for an
 * unknown or malformed id.
 */
export async function readAdminInstanceDetail(instanceId: string): Promise<AdminInstanceDetailData> {
  const { deps, operationsDisabled } = await readDeps();
  const db = deps?.db ?? (await getDb());
  const record = await getFleetInstanceRecordOrThrow(db, instanceId);
  const row = deps ? await reconcileInstance(record.row, deps) : record.row;
  const [timeline, gateway, ownerRunningInstances] = await Promise.all([
    listInstanceTimeline(db, row.id, { limit: TIMELINE_PAGE }),
    deps && row.machineId && row.status === "running" ? readGatewayReport(deps, row.machineId) : null,
    countRunningInstancesOf(db, row.ownerId),
  ]);
  const now = new Date();
  return {
    instance: toFleetInstanceDto({ ...record, row }, now),
    events: timeline.events,
    olderBefore: timeline.olderBefore,
    gateway,
    ownerRunningInstances,
    operationsDisabled,
    generatedAt: now.toISOString(),
  };
}

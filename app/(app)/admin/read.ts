import { getDb } from "@/db";
import type { AdminInstanceDetailData, FleetViewData } from "@/components/admin/types";
import { listFleetPage } from "@/lib/admin/fleet";
import { parseFleetSearchParams, withoutCursor } from "@/lib/admin/fleet-url";
import { getFleetInstanceRecordOrThrow, listInstanceTimeline, toFleetInstanceDto } from "@/lib/admin/instance-detail";
import { getCachedFleetOverview } from "@/lib/admin/overview-cache";
import { isAppError } from "@/lib/errors";
import { reconcileInstance } from "@/lib/instances";
import { countRunningInstancesOf } from "@/lib/instances/queries";
import { readDeps, readGatewayReport } from "../instances/read";

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

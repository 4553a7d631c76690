"use server";

import { getDb } from "@/db";
import type { ActionResult } from "@/lib/actions/result";
import type { InstanceOperation } from "@/lib/instances/dto";
import type { FleetInstanceDto } from "@/lib/admin/fleet-page";
import { listBulkTargets } from "@/lib/admin/bulk-targets";
import { getFleetInstanceRecordOrThrow, toFleetInstanceDto } from "@/lib/admin/instance-detail";
import { invalidateFleetOverview } from "@/lib/admin/overview-cache";
import { BULK_REDEPLOY_MAX, fleetQuerySchema } from "@/lib/admin/schemas";
import { requireAdmin } from "@/lib/auth/session";
import { AppError } from "@/lib/errors";
import { getLifecycleDeps, redeployInstance, startInstance, stopInstance } from "@/lib/instances";
import { instanceIdSchema } from "@/lib/instances/schemas";
import { userIdParam } from "@/lib/http/request";
import { revokeKeysAndRekey } from "@/lib/scheduler/rekey";
import { toActionResult } from "./result";

export interface BulkTargetsResult {
  targets: { id: string; name: string; ownerEmail: string }[];
  /** More instances matched than one run may touch (`cap`). */
  truncated: boolean;
  cap: number;
}

const operations = { start: startInstance, stop: stopInstance, redeploy: redeployInstance } as const;

/**
 * Runs a lifecycle operation on any user's instance as the signed-in admin: the audit log records
 * the admin (actor `admin` with their id), and no owner scope applies. The same lib functions as
 * the owner's dashboard, so the same lease, key and fallback rules hold.
 */
async function runAsAdmin(operation: InstanceOperation, instanceId: string): Promise<ActionResult<FleetInstanceDto>> {
  return toActionResult(async () => {
    const admin = await requireAdmin();
    if (!instanceIdSchema.safeParse(instanceId).success) throw new AppError("not_found", "No such instance.");
    const deps = await getLifecycleDeps();
    try {
      await operations[operation]({ instanceId, actor: { type: "admin", id: admin.id } }, deps);
    } finally {
      invalidateFleetOverview(deps.db);
    }
    return toFleetInstanceDto(await getFleetInstanceRecordOrThrow(deps.db, instanceId), deps.now());
  });
}

/** Starts any user's instance with a freshly minted key, as the admin; a no-op when it is running. */
export async function startInstanceAsAdminAction(instanceId: string): Promise<ActionResult<FleetInstanceDto>> {
  return runAsAdmin("start", instanceId);
}

/** Stops any user's instance, as the admin, and waits until its machine has stopped. */
export async function stopInstanceAsAdminAction(instanceId: string): Promise<ActionResult<FleetInstanceDto>> {
  return runAsAdmin("stop", instanceId);
}

/** Redeploys any user's instance with a freshly minted key, as the admin (`key_unavailable` leaves it as it was). */
export async function redeployInstanceAsAdminAction(instanceId: string): Promise<ActionResult<FleetInstanceDto>> {
  return runAsAdmin("redeploy", instanceId);
}

export interface RevokeUserKeysResult {
  revokedKeyCount: number;
  runningInstanceCount: number;
}

/**
 * Revokes every API key of a user (a pepper rotation), as the signed-in admin, and kicks the live
 * re-key of their running instances; the audit log records the admin. Repeating it rotates again.
 */
export async function revokeUserKeysAsAdminAction(userId: string): Promise<ActionResult<RevokeUserKeysResult>> {
  return toActionResult(async () => {
    const admin = await requireAdmin();
    const id = userIdParam({ id: userId });
    const result = await revokeKeysAndRekey({ userId: id, actor: { type: "admin", id: admin.id } });
    invalidateFleetOverview(await getDb());
    return { revokedKeyCount: result.revokedKeyCount, runningInstanceCount: result.runningInstanceCount };
  });
}

const bulkQuerySchema = fleetQuerySchema.pick({ keyHealth: true, status: true, owner: true, ownerSearch: true, sort: true, order: true });

/**
 * The instances "Redeploy all matching" would touch: those matching the fleet view's filters, in
 * its order, at most BULK_REDEPLOY_MAX (`truncated` says more matched), for the confirmation.
 * Read-only; confirming starts a fleet job that resolves the filter again, without a cap.
 */
export async function listBulkRedeployTargetsAction(input: unknown): Promise<ActionResult<BulkTargetsResult>> {
  return toActionResult(async () => {
    await requireAdmin();
    const query = bulkQuerySchema.parse(input);
    const { targets, truncated } = await listBulkTargets(await getDb(), query, new Date(), BULK_REDEPLOY_MAX);
    return { targets, truncated, cap: BULK_REDEPLOY_MAX };
  });
}

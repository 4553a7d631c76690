"use server";

import { getDb } from "@/db";
import type { ActionResult } from "@/lib/actions/result";
import { invalidateFleetOverview } from "@/lib/admin/overview-cache";
import { requireAdmin } from "@/lib/auth/session";
import { cancelFleetJob, createFleetJob, pauseFleetJob, resumeFleetJob, type FleetJobDto } from "@/lib/fleet-jobs/jobs";
import { fleetJobIdParam } from "@/lib/fleet-jobs/http";
import { kickFleetJobs } from "@/lib/fleet-jobs/runner";
import { createFleetJobBodySchema } from "@/lib/fleet-jobs/schemas";
import { toActionResult } from "./result";

// The admin UI's writes to fleet jobs, beside the single-instance admin actions in ./admin.ts, so a
// Redeploy of one instance and of many go the same way. The HTTP API (app/api/admin/jobs) calls the
// same lib functions for other clients.

/**
 * Starts a fleet job (redeploy, start, stop or revoke keys over a selection or the fleet filters)
 * as the signed-in admin, and wakes this replica's worker. The selection is resolved once, now;
 * `validation_failed` when it leaves nothing to do. Each call starts a new job.
 */
export async function createFleetJobAction(input: unknown): Promise<ActionResult<FleetJobDto>> {
  return toActionResult(async () => {
    const admin = await requireAdmin();
    const body = createFleetJobBodySchema.parse(input);
    const db = await getDb();
    const job = await createFleetJob(db, body, admin, new Date());
    void kickFleetJobs().finally(() => invalidateFleetOverview(db));
    return job;
  });
}

/** Pauses a running job (items in flight finish); `invalid_state` when it is not running. */
export async function pauseFleetJobAction(jobId: string): Promise<ActionResult<FleetJobDto>> {
  return toActionResult(async () => {
    await requireAdmin();
    return pauseFleetJob(await getDb(), fleetJobIdParam({ id: jobId }));
  });
}

/** Resumes a paused job where it stopped and wakes the worker; `invalid_state` when it is not paused. */
export async function resumeFleetJobAction(jobId: string): Promise<ActionResult<FleetJobDto>> {
  return toActionResult(async () => {
    await requireAdmin();
    const job = await resumeFleetJob(await getDb(), fleetJobIdParam({ id: jobId }));
    void kickFleetJobs();
    return job;
  });
}

/** Cancels a running or paused job for good; `invalid_state` for a job already over. */
export async function cancelFleetJobAction(jobId: string): Promise<ActionResult<FleetJobDto>> {
  return toActionResult(async () => {
    await requireAdmin();
    return cancelFleetJob(await getDb(), fleetJobIdParam({ id: jobId }));
  });
}

"use server";

import { z } from "zod";
import type { ActionResult } from "@/lib/actions/result";
import type { InstanceDto, InstanceOperation } from "@/lib/instances/dto";
import { requireUser } from "@/lib/auth/session";
import { AppError } from "@/lib/errors";
import { getLifecycleDeps, provisionInstance, redeployInstance, startInstance, stopInstance } from "@/lib/instances";
import { instanceIdSchema, instanceNameSchema, regionSchema } from "@/lib/instances/schemas";
import { presentInstance } from "@/lib/instances/present";
import { toActionResult } from "./result";
import { withE2eFaults } from "./e2e-faults";
import { getRegionOptions } from "@/lib/machines/regions";

const createInstanceSchema = z.object({ name: instanceNameSchema, region: regionSchema });

const operations = { start: startInstance, stop: stopInstance, redeploy: redeployInstance } as const;

/**
 * Creates an instance record for the signed-in user (no machine, no key yet). The dashboard then
 * starts it with startInstanceAction, so the new instance shows up at once and its start is
 * followed step by step like any other.
 */
export async function createInstanceAction(input: { name: string; region: string }): Promise<ActionResult<InstanceDto>> {
  return toActionResult(async () => {
    const user = await requireUser();
    const { name, region } = createInstanceSchema.parse(input);
    if (!getRegionOptions().some((option) => option.value === region)) {
      throw new AppError("validation_failed", `This server cannot run instances in region “${region}”.`);
    }
    const deps = await getLifecycleDeps();
    const row = await provisionInstance({ userId: user.id, name, region, actor: { type: "user", id: user.id } }, deps);
    return presentInstance(row, deps);
  });
}

async function runOperationAction(operation: InstanceOperation, instanceId: string): Promise<ActionResult<InstanceDto>> {
  return toActionResult(async () => {
    const user = await requireUser();
    if (!instanceIdSchema.safeParse(instanceId).success) throw new AppError("not_found", "No such instance.");
    const deps = await withE2eFaults(await getLifecycleDeps());
    const row = await operations[operation]({ instanceId, actor: { type: "user", id: user.id }, ownerId: user.id }, deps);
    return presentInstance(row, deps);
  });
}

/** Starts the user's instance with a freshly minted key; a no-op when it is already running. */
export async function startInstanceAction(instanceId: string): Promise<ActionResult<InstanceDto>> {
  return runOperationAction("start", instanceId);
}

/** Stops the user's instance and waits until its machine has stopped. */
export async function stopInstanceAction(instanceId: string): Promise<ActionResult<InstanceDto>> {
  return runOperationAction("stop", instanceId);
}

/**
 * Redeploys the user's instance with a freshly minted key. When no usable key exists it answers
 * `key_unavailable` with the reason, and the machine is left exactly as it was.
 */
export async function redeployInstanceAction(instanceId: string): Promise<ActionResult<InstanceDto>> {
  return runOperationAction("redeploy", instanceId);
}

import { eq } from "drizzle-orm";
import type { InstanceRow } from "@/db/schema";
import { users } from "@/db/schema";
import { pepperFingerprint } from "@/lib/keys/fingerprints";
import type { LifecycleDeps } from "./deps";
import { toInstanceConfigDto, toInstanceStatusDto, type InstanceConfigDto, type InstanceStatusDto } from "./dto";
import { getInstanceForUserOrThrow, getInstanceOrThrow } from "./queries";
import { reconcileInstance } from "./reconcile";

export interface InstanceReadInput {
  instanceId: string;
  /** Scopes the read to this owner (user callers): another user's instance is 404. */
  ownerId?: string;
}

async function readInstance(input: InstanceReadInput, deps: LifecycleDeps): Promise<InstanceRow> {
  return input.ownerId
    ? getInstanceForUserOrThrow(deps.db, input.ownerId, input.instanceId)
    : getInstanceOrThrow(deps.db, input.instanceId);
}

/** Lifecycle status (no key fields), reconciled with the provider at most every few seconds. */
export async function getInstanceStatus(input: InstanceReadInput, deps: LifecycleDeps): Promise<InstanceStatusDto> {
  const row = await reconcileInstance(await readInstance(input, deps), deps);
  return toInstanceStatusDto(row, deps.now());
}

/** Key metadata and health (never the key). */
export async function getInstanceConfig(input: InstanceReadInput, deps: LifecycleDeps): Promise<InstanceConfigDto> {
  const row = await readInstance(input, deps);
  return toInstanceConfigDto(row, await currentPepperFingerprint(deps, row.ownerId), deps.now());
}

export async function currentPepperFingerprint(deps: Pick<LifecycleDeps, "db">, userId: string): Promise<string | null> {
  const [owner] = await deps.db.select({ pepper: users.apiTokenPepper }).from(users).where(eq(users.id, userId)).limit(1);
  return owner ? pepperFingerprint(owner.pepper) : null;
}

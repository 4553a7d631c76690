import type { Database } from "@/db";
import { instances, type InstanceRow } from "@/db/schema";
import { recordInstanceEvent, type Actor } from "@/lib/audit/events";
import { lockOwnerWithinQuota } from "@/lib/limits/quota";
import { consumeUserOperation, type UserLimits } from "@/lib/limits/rate-limit";
import type { MachineProvider } from "@/lib/machines/types";
import type { ProvisionInstanceInput } from "./schemas";

export interface ProvisionDeps {
  db: Database;
  machines: Pick<MachineProvider, "name">;
  defaultRegion: string;
  /** Quota and rate limit (lib/limits); unset, neither applies. */
  limits?: UserLimits;
  now?: () => Date;
}

/**
 * Creates an instance record for `userId` in state `provisioned`: no machine and no key yet (the
 * first start mints one and creates the machine). Throws `not_found` for an unknown user,
 * `quota_exceeded` when the owner already has their quota of instances (race-free: the owner's row
 * is locked for the check and the insert), and `rate_limited` for a user over their operation
 * limit. Each call creates a new instance; callers that retry use an idempotency key above this.
 */
export async function provisionInstance(
  input: ProvisionInstanceInput & { userId: string; actor: Actor },
  deps: ProvisionDeps,
): Promise<InstanceRow> {
  await consumeUserOperation(deps.db, deps.limits, input.actor, deps.now?.() ?? new Date());
  return deps.db.transaction(async (tx) => {
    const owner = await lockOwnerWithinQuota(tx as unknown as Database, input.userId, deps.limits?.maxInstancesPerUser);
    return insertInstance(tx as unknown as Database, owner, input, deps);
  });
}

async function insertInstance(
  db: Database,
  owner: { id: string },
  input: ProvisionInstanceInput & { actor: Actor },
  deps: ProvisionDeps,
): Promise<InstanceRow> {
  const [row] = await db
    .insert(instances)
    .values({
      ownerId: owner.id,
      name: input.name ?? "gateway",
      provider: deps.machines.name,
      region: input.region ?? deps.defaultRegion,
      imageTag: input.imageTag ?? "latest",
    })
    .returning();
  await recordInstanceEvent(db, {
    instanceId: row!.id,
    userId: owner.id,
    actor: input.actor,
    action: "provision",
    outcome: "success",
  });
  return row!;
}

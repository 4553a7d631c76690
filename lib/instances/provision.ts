import { eq } from "drizzle-orm";
import type { Database } from "@/db";
import { instances, users, type InstanceRow } from "@/db/schema";
import { recordInstanceEvent, type Actor } from "@/lib/audit/events";
import { AppError } from "@/lib/errors";
import type { MachineProvider } from "@/lib/machines/types";
import type { ProvisionInstanceInput } from "./schemas";

export interface ProvisionDeps {
  db: Database;
  machines: Pick<MachineProvider, "name">;
  defaultRegion: string;
}

/**
 * Creates an instance record for `userId` in state `provisioned`: no machine and no key yet (the
 * first start mints one and creates the machine). Throws `not_found` for an unknown user. Each
 * call creates a new instance; callers that retry use an idempotency key above this.
 */
export async function provisionInstance(
  input: ProvisionInstanceInput & { userId: string; actor: Actor },
  deps: ProvisionDeps,
): Promise<InstanceRow> {
  const [owner] = await deps.db.select({ id: users.id }).from(users).where(eq(users.id, input.userId)).limit(1);
  if (!owner) throw new AppError("not_found", "No such user.");
  const [row] = await deps.db
    .insert(instances)
    .values({
      ownerId: owner.id,
      name: input.name ?? "gateway",
      provider: deps.machines.name,
      region: input.region ?? deps.defaultRegion,
      imageTag: input.imageTag ?? "latest",
    })
    .returning();
  await recordInstanceEvent(deps.db, {
    instanceId: row!.id,
    userId: owner.id,
    actor: input.actor,
    action: "provision",
    outcome: "success",
  });
  return row!;
}

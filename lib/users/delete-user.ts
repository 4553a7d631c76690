import { and, eq, ne } from "drizzle-orm";
import { instances, users } from "@/db/schema";
import { recordInstanceEvent, type Actor } from "@/lib/audit/events";
import { AppError } from "@/lib/errors";
import { destroyInstance } from "@/lib/instances/destroy";
import type { LifecycleDeps } from "@/lib/instances/deps";
import { emailSchema } from "./schemas";

export interface DeleteUserResult {
  userId: string;
  destroyedInstances: number;
}

/**
 * Deletes a user for good: first destroys every instance they still have (machine included,
 * through the one destroy operation, so each is leased and audited), then records the deletion
 * and removes the user row. If any destroy fails, the user is kept and the error thrown: run it
 * again once the provider is back, as destroyed instances are skipped. The audit log survives.
 */
export async function deleteUser(input: { email: string; actor: Actor }, deps: LifecycleDeps): Promise<DeleteUserResult> {
  const email = emailSchema.parse(input.email);
  const [user] = await deps.db.select({ id: users.id }).from(users).where(eq(users.email, email)).limit(1);
  if (!user) throw new AppError("not_found", `No user has the email ${email}.`);
  const live = await deps.db
    .select({ id: instances.id })
    .from(instances)
    .where(and(eq(instances.ownerId, user.id), ne(instances.status, "destroyed")));
  for (const instance of live) await destroyInstance({ instanceId: instance.id, actor: input.actor }, deps);
  await deps.db.transaction(async (tx) => {
    await recordInstanceEvent(tx, {
      instanceId: null,
      userId: user.id,
      actor: input.actor,
      action: "user_delete",
      outcome: "success",
      details: { destroyedInstances: live.length },
    });
    await tx.delete(users).where(eq(users.id, user.id));
  });
  return { userId: user.id, destroyedInstances: live.length };
}

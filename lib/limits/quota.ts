import { and, count, eq, isNull, ne, sql } from "drizzle-orm";
import type { Database } from "@/db";
import { instances, users } from "@/db/schema";
import { AppError } from "@/lib/errors";

/**
 * Locks the owner's row and checks there is room for one more instance under their quota (their
 * own `maxInstances`, else `defaultLimit`); destroyed instances do not count. Call it inside the
 * transaction that inserts the instance: the row lock makes two racing creates at the limit
 * queue up, so the second one sees the first one's instance and is refused (`409
 * quota_exceeded`). Throws `not_found` for an unknown user.
 */
export async function lockOwnerWithinQuota(tx: Database, userId: string, defaultLimit: number | undefined): Promise<{ id: string }> {
  const [owner] = await tx
    .select({ id: users.id, maxInstances: users.maxInstances })
    .from(users)
    .where(eq(users.id, userId))
    .for("update")
    .limit(1);
  if (!owner) throw new AppError("not_found", "No such user.");
  const limit = owner.maxInstances ?? defaultLimit;
  if (limit === undefined) return owner;
  const [row] = await tx
    .select({ count: count() })
    .from(instances)
    .where(and(eq(instances.ownerId, userId), ne(instances.status, "destroyed"), isNull(instances.destroyedAt)));
  if ((row?.count ?? 0) >= limit) {
    throw new AppError(
      "quota_exceeded",
      `This account may have at most ${limit} instance${limit === 1 ? "" : "s"}. Destroy one, or ask an administrator to raise the limit.`,
      { limit },
    );
  }
  return owner;
}

/**
 * Sets one user's instance quota (admins); null returns them to MAX_INSTANCES_PER_USER. Existing
 * instances above a lowered quota stay; only new ones are refused. False for an unknown user.
 */
export async function setUserInstanceQuota(db: Database, userId: string, maxInstances: number | null): Promise<boolean> {
  const rows = await db
    .update(users)
    .set({ maxInstances, updatedAt: sql`now()` })
    .where(eq(users.id, userId))
    .returning({ id: users.id });
  return rows.length === 1;
}

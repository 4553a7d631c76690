import { count, isNull } from "drizzle-orm";
import { getDb, type Database } from "@/db";
import { instances, users } from "@/db/schema";

/** Fleet-wide counts for the admin overview (not scoped to a user: admin callers only). */
export async function getFleetTotals(db?: Database): Promise<{ users: number; instances: number }> {
  const database = db ?? (await getDb());
  const [[userCount], [instanceCount]] = await Promise.all([
    database.select({ value: count() }).from(users),
    database.select({ value: count() }).from(instances).where(isNull(instances.destroyedAt)),
  ]);
  return { users: userCount?.value ?? 0, instances: instanceCount?.value ?? 0 };
}

import { and, count, desc, eq, isNull } from "drizzle-orm";
import type { Database } from "@/db";
import { instanceEvents, instances, type InstanceEventRow, type InstanceRow } from "@/db/schema";
import { AppError } from "@/lib/errors";
import { instanceIdSchema } from "./schemas";

function notFound(): AppError {
  return new AppError("not_found", "No such instance.");
}

/** The user's own instance; another user's, a destroyed one or a malformed id are all 404. */
export async function getInstanceForUserOrThrow(db: Database, userId: string, instanceId: string): Promise<InstanceRow> {
  if (!instanceIdSchema.safeParse(instanceId).success) throw notFound();
  const [row] = await db
    .select()
    .from(instances)
    .where(and(eq(instances.id, instanceId), eq(instances.ownerId, userId), isNull(instances.destroyedAt)))
    .limit(1);
  if (!row) throw notFound();
  return row;
}

/** Any user's instance (admin, internal and scheduler callers). Destroyed instances are 404. */
export async function getInstanceOrThrow(db: Database, instanceId: string): Promise<InstanceRow> {
  if (!instanceIdSchema.safeParse(instanceId).success) throw notFound();
  const [row] = await db
    .select()
    .from(instances)
    .where(and(eq(instances.id, instanceId), isNull(instances.destroyedAt)))
    .limit(1);
  if (!row) throw notFound();
  return row;
}

/** The user's live instances, newest first. */
export async function listInstancesForUser(db: Database, userId: string): Promise<InstanceRow[]> {
  return db
    .select()
    .from(instances)
    .where(and(eq(instances.ownerId, userId), isNull(instances.destroyedAt)))
    .orderBy(desc(instances.createdAt));
}

/** The newest audit events of one instance. */
export async function listInstanceEvents(db: Database, instanceId: string, limit = 50): Promise<InstanceEventRow[]> {
  return db
    .select()
    .from(instanceEvents)
    .where(eq(instanceEvents.instanceId, instanceId))
    .orderBy(desc(instanceEvents.id))
    .limit(limit);
}

/** How many of the user's instances are running: what a revocation re-keys live. */
export async function countRunningInstancesOf(db: Database, ownerId: string): Promise<number> {
  const [row] = await db
    .select({ value: count() })
    .from(instances)
    .where(and(eq(instances.ownerId, ownerId), eq(instances.status, "running"), isNull(instances.destroyedAt)));
  return row?.value ?? 0;
}

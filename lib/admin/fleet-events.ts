import "server-only";
import { eq } from "drizzle-orm";
import type { Database } from "@/db";
import { instances } from "@/db/schema";
import { AppError } from "@/lib/errors";
import { toInstanceEventDto, type InstanceEventDto } from "@/lib/instances/dto";
import { listInstanceEvents } from "@/lib/instances/queries";
import { instanceIdSchema } from "@/lib/instances/schemas";

/**
 * The newest audit events of any instance, destroyed ones included (admins audit what happened to
 * them). An unknown or malformed id is `not_found`.
 */
export async function listInstanceEventsForAdmin(db: Database, instanceId: string, options: { limit: number }): Promise<InstanceEventDto[]> {
  const notFound = () => new AppError("not_found", "No such instance.");
  if (!instanceIdSchema.safeParse(instanceId).success) throw notFound();
  const [row] = await db.select({ id: instances.id }).from(instances).where(eq(instances.id, instanceId)).limit(1);
  if (!row) throw notFound();
  return (await listInstanceEvents(db, instanceId, options.limit)).map(toInstanceEventDto);
}

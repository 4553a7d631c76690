import { and, desc, eq, inArray, lt } from "drizzle-orm";
import { z } from "zod";
import type { Database } from "@/db";
import { instanceEvents, instances, users, type InstanceRow } from "@/db/schema";
import { AppError } from "@/lib/errors";
import { toInstanceDto, toInstanceEventDto, type InstanceEventDto } from "@/lib/instances/dto";
import { instanceIdSchema } from "@/lib/instances/schemas";
import { pepperFingerprint } from "@/lib/keys/fingerprints";
import type { FleetInstanceDto } from "./fleet-page";

const notFound = () => new AppError("not_found", "No such instance.");

/** An instance's row with its owner, for admin callers: any user's, destroyed ones included. */
export interface FleetInstanceRecord {
  row: InstanceRow;
  owner: { id: string; email: string; name: string | null; pepperFingerprint: string };
}

/**
 * Any user's instance with its owner (admin callers only). Destroyed instances are found too, so
 * admins can audit them. An unknown or malformed id is `not_found`.
 */
export async function getFleetInstanceRecordOrThrow(db: Database, instanceId: string): Promise<FleetInstanceRecord> {
  if (!instanceIdSchema.safeParse(instanceId).success) throw notFound();
  const [found] = await db
    .select({ row: instances, ownerEmail: users.email, ownerName: users.name, ownerPepper: users.apiTokenPepper })
    .from(instances)
    .innerJoin(users, eq(users.id, instances.ownerId))
    .where(eq(instances.id, instanceId))
    .limit(1);
  if (!found) throw notFound();
  return {
    row: found.row,
    owner: { id: found.row.ownerId, email: found.ownerEmail, name: found.ownerName, pepperFingerprint: pepperFingerprint(found.ownerPepper) },
  };
}

/** The instance as the admin views show it (status, key metadata and owner; never the key). */
export function toFleetInstanceDto(record: FleetInstanceRecord, now: Date): FleetInstanceDto {
  const { owner } = record;
  return { ...toInstanceDto(record.row, owner.pepperFingerprint, now), owner: { id: owner.id, email: owner.email, name: owner.name } };
}

export interface TimelineEventDto extends InstanceEventDto {
  /** The account that acted, for events by a user or an admin whose account still exists. */
  actorAccount: { email: string; name: string | null } | null;
}

export interface TimelinePage {
  events: TimelineEventDto[];
  /** Pass as `before` for older events; null when these are the oldest. */
  olderBefore: number | null;
}

export const timelineQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  before: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
});

/**
 * An instance's audit events, newest first, `limit` at a time (`before`: only events older than
 * that event id), each with the account of the user or admin who acted. Ids grow with time, so
 * pages never overlap while new events arrive. Does not check that the instance exists.
 */
export async function listInstanceTimeline(
  db: Database,
  instanceId: string,
  options: { limit: number; before?: number },
): Promise<TimelinePage> {
  if (!instanceIdSchema.safeParse(instanceId).success) throw notFound();
  const rows = await db
    .select()
    .from(instanceEvents)
    .where(and(eq(instanceEvents.instanceId, instanceId), options.before ? lt(instanceEvents.id, options.before) : undefined))
    .orderBy(desc(instanceEvents.id))
    .limit(options.limit + 1);
  const page = rows.slice(0, options.limit);
  // Users and admins are recorded by their user id; anything else (a job, a service) is a name.
  const accountIds = [
    ...new Set(page.filter((row) => (row.actorType === "user" || row.actorType === "admin") && row.actorId && instanceIdSchema.safeParse(row.actorId).success).map((row) => row.actorId!)),
  ];
  const accounts = accountIds.length
    ? await db.select({ id: users.id, email: users.email, name: users.name }).from(users).where(inArray(users.id, accountIds))
    : [];
  const byId = new Map(accounts.map((account) => [account.id, { email: account.email, name: account.name }]));
  return {
    events: page.map((row) => ({
      ...toInstanceEventDto(row),
      actorAccount: (row.actorType === "user" || row.actorType === "admin") && row.actorId ? (byId.get(row.actorId) ?? null) : null,
    })),
    olderBefore: rows.length > options.limit ? page.at(-1)!.id : null,
  };
}

import "server-only";
import { and, desc, eq, inArray, isNull, lt, or, sql } from "drizzle-orm";
import { alias } from "drizzle-orm/pg-core";
import type { Database } from "@/db";
import { fleetJobItems, fleetJobs, instances, users, type FleetJobItemRow, type FleetJobRow } from "@/db/schema";
import { listBulkTargets } from "@/lib/admin/bulk-targets";
import { AppError } from "@/lib/errors";
import {
  fleetJobItemStateValues,
  type CreateFleetJobInput,
  type FleetJobItemStateValue,
  type FleetJobItemsQuery,
  type FleetJobKindValue,
  type ListFleetJobsQuery,
} from "./schemas";

/** Most items one job may hold: a filter matching more is refused (narrow it, or run two jobs). */
export const FLEET_JOB_MAX_ITEMS = 1_000_000;
const INSERT_CHUNK = 5_000;

export type FleetJobCounts = Record<FleetJobItemStateValue, number>;

export interface FleetJobDto {
  id: string;
  kind: FleetJobKindValue;
  state: FleetJobRow["state"];
  createdBy: { id: string | null; email: string | null };
  /** How the targets were chosen: explicit ids (with their count) or the fleet filter. */
  selection: Record<string, unknown>;
  totalItems: number;
  counts: FleetJobCounts;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

export interface FleetJobItemDto {
  position: number;
  target: { type: "instance" | "owner"; id: string; name: string | null; ownerEmail: string | null };
  state: FleetJobItemStateValue;
  attempts: number;
  error: { code: string; message: string } | null;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface FleetJobWithItems extends FleetJobDto {
  items: FleetJobItemDto[];
  /** Pass as `cursor` for the next page of items; null on the last page. */
  nextCursor: number | null;
}

export interface FleetJobPage {
  jobs: FleetJobDto[];
  nextCursor: string | null;
}

const emptyCounts = (): FleetJobCounts => Object.fromEntries(fleetJobItemStateValues.map((state) => [state, 0])) as FleetJobCounts;

/**
 * Resolves the selection once, now, to a fixed list of targets and stores the job with one item
 * per target, in one transaction (a job is never half-created). Lifecycle jobs target live
 * instances (unknown, destroyed and destroying ones are left out); `revoke_keys` targets owners:
 * those selected, or the owners of the selected or matching instances, each once. Instances that
 * start matching the filter later are not added. Throws `validation_failed` when nothing is left
 * or a filter matches more than FLEET_JOB_MAX_ITEMS. The job starts `running`: any replica's
 * worker may take its first item as soon as this commits.
 */
export async function createFleetJob(db: Database, input: CreateFleetJobInput, createdBy: { id: string }, now: Date): Promise<FleetJobDto> {
  const { kind, selection } = input;
  let targets: { id: string; ownerId: string }[];
  let stored: Record<string, unknown>;
  if (selection.type === "filter") {
    const { targets: matching, truncated } = await listBulkTargets(db, { ...selection.filter, sort: selection.sort, order: selection.order }, now, FLEET_JOB_MAX_ITEMS);
    if (truncated) throw new AppError("validation_failed", `More than ${FLEET_JOB_MAX_ITEMS} instances match; narrow the filters.`);
    targets = matching;
    stored = { type: "filter", filter: selection.filter, sort: selection.sort, order: selection.order };
  } else if (selection.type === "instances") {
    const live = await db
      .select({ id: instances.id, ownerId: instances.ownerId })
      .from(instances)
      .where(and(inArray(instances.id, selection.ids), isNull(instances.destroyedAt), sql`${instances.status} not in ('destroyed', 'destroying')`));
    const byId = new Map(live.map((row) => [row.id, row]));
    targets = [...new Set(selection.ids)].flatMap((id) => byId.get(id) ?? []);
    stored = { type: "instances", requested: selection.ids.length };
  } else {
    const known = await db.select({ id: users.id }).from(users).where(inArray(users.id, selection.ids));
    const knownIds = new Set(known.map((row) => row.id));
    targets = [...new Set(selection.ids)].filter((id) => knownIds.has(id)).map((id) => ({ id, ownerId: id }));
    stored = { type: "owners", requested: selection.ids.length };
  }
  const targetIds = kind === "revoke_keys" ? [...new Set(targets.map((target) => target.ownerId))] : targets.map((target) => target.id);
  if (targetIds.length === 0) {
    throw new AppError("validation_failed", kind === "revoke_keys" && selection.type === "owners" ? "None of these users exists." : "No live instance matches this selection.");
  }

  const job = await db.transaction(async (tx) => {
    const [row] = await tx.insert(fleetJobs).values({ kind, createdBy: createdBy.id, selection: stored, totalItems: targetIds.length }).returning();
    for (let start = 0; start < targetIds.length; start += INSERT_CHUNK) {
      await tx.insert(fleetJobItems).values(targetIds.slice(start, start + INSERT_CHUNK).map((targetId, offset) => ({ jobId: row!.id, position: start + offset, targetId })));
    }
    return row!;
  });
  return getFleetJobOrThrow(db, job.id);
}

async function countsFor(db: Database, jobIds: string[]): Promise<Map<string, FleetJobCounts>> {
  const result = new Map(jobIds.map((id) => [id, emptyCounts()]));
  if (jobIds.length === 0) return result;
  const rows = await db
    .select({ jobId: fleetJobItems.jobId, state: fleetJobItems.state, count: sql<number>`count(*)::int` })
    .from(fleetJobItems)
    .where(inArray(fleetJobItems.jobId, jobIds))
    .groupBy(fleetJobItems.jobId, fleetJobItems.state);
  for (const row of rows) result.get(row.jobId)![row.state] = Number(row.count);
  return result;
}

const jobColumns = { job: fleetJobs, creatorEmail: users.email };

function toFleetJobDto(row: { job: FleetJobRow; creatorEmail: string | null }, counts: FleetJobCounts): FleetJobDto {
  const { job } = row;
  return {
    id: job.id,
    kind: job.kind,
    state: job.state,
    createdBy: { id: job.createdBy, email: row.creatorEmail },
    selection: job.selection,
    totalItems: job.totalItems,
    counts,
    createdAt: job.createdAt.toISOString(),
    updatedAt: job.updatedAt.toISOString(),
    finishedAt: job.finishedAt?.toISOString() ?? null,
  };
}

/** Fleet jobs, newest first, with their counts by item state (keyset pages). Read-only. */
export async function listFleetJobs(db: Database, query: ListFleetJobsQuery): Promise<FleetJobPage> {
  const after = query.cursor
    ? sql`(${fleetJobs.createdAt}, ${fleetJobs.id}) < (select created_at, id from fleet_jobs where id = ${query.cursor})`
    : undefined;
  const rows = await db
    .select(jobColumns)
    .from(fleetJobs)
    .leftJoin(users, eq(users.id, fleetJobs.createdBy))
    .where(and(after, query.state?.length ? inArray(fleetJobs.state, query.state) : undefined))
    .orderBy(desc(fleetJobs.createdAt), desc(fleetJobs.id))
    .limit(query.limit + 1);
  const page = rows.slice(0, query.limit);
  const counts = await countsFor(db, page.map((row) => row.job.id));
  return {
    jobs: page.map((row) => toFleetJobDto(row, counts.get(row.job.id)!)),
    nextCursor: rows.length > query.limit ? page.at(-1)!.job.id : null,
  };
}

/** One job with its counts and, when `itemsQuery` is given, one page of its items in job order. Throws `not_found`. */
export async function getFleetJobOrThrow(db: Database, jobId: string): Promise<FleetJobDto>;
export async function getFleetJobOrThrow(db: Database, jobId: string, itemsQuery: FleetJobItemsQuery): Promise<FleetJobWithItems>;
export async function getFleetJobOrThrow(db: Database, jobId: string, itemsQuery?: FleetJobItemsQuery): Promise<FleetJobDto | FleetJobWithItems> {
  const [row] = await db.select(jobColumns).from(fleetJobs).leftJoin(users, eq(users.id, fleetJobs.createdBy)).where(eq(fleetJobs.id, jobId)).limit(1);
  if (!row) throw new AppError("not_found", "No such job.");
  const job = toFleetJobDto(row, (await countsFor(db, [jobId])).get(jobId)!);
  if (!itemsQuery) return job;
  const { items, nextCursor } = await listFleetJobItems(db, row.job, itemsQuery);
  return { ...job, items, nextCursor };
}

const instanceOwner = alias(users, "instance_owner");
const targetUser = alias(users, "target_user");

async function listFleetJobItems(db: Database, job: FleetJobRow, query: FleetJobItemsQuery): Promise<{ items: FleetJobItemDto[]; nextCursor: number | null }> {
  const owners = job.kind === "revoke_keys";
  const rows = await db
    .select({
      item: fleetJobItems,
      instanceName: instances.name,
      ownerEmail: owners ? targetUser.email : instanceOwner.email,
    })
    .from(fleetJobItems)
    .leftJoin(instances, owners ? sql`false` : eq(instances.id, fleetJobItems.targetId))
    .leftJoin(instanceOwner, owners ? sql`false` : eq(instanceOwner.id, instances.ownerId))
    .leftJoin(targetUser, owners ? eq(targetUser.id, fleetJobItems.targetId) : sql`false`)
    .where(
      and(
        eq(fleetJobItems.jobId, job.id),
        query.cursor !== undefined ? sql`${fleetJobItems.position} > ${query.cursor}` : undefined,
        query.state?.length ? inArray(fleetJobItems.state, query.state) : undefined,
      ),
    )
    .orderBy(fleetJobItems.position)
    .limit(query.limit + 1);
  const page = rows.slice(0, query.limit);
  return {
    items: page.map(({ item, instanceName, ownerEmail }) => toFleetJobItemDto(item, owners, instanceName, ownerEmail)),
    nextCursor: rows.length > query.limit ? page.at(-1)!.item.position : null,
  };
}

function toFleetJobItemDto(item: FleetJobItemRow, owner: boolean, name: string | null, ownerEmail: string | null): FleetJobItemDto {
  return {
    position: item.position,
    target: { type: owner ? "owner" : "instance", id: item.targetId, name: owner ? ownerEmail : name, ownerEmail },
    state: item.state,
    attempts: item.attempts,
    error: item.errorCode ? { code: item.errorCode, message: item.errorMessage ?? "" } : null,
    startedAt: item.startedAt?.toISOString() ?? null,
    finishedAt: item.finishedAt?.toISOString() ?? null,
  };
}

async function refuseTransition(db: Database, jobId: string, verb: string): Promise<never> {
  const [job] = await db.select({ state: fleetJobs.state }).from(fleetJobs).where(eq(fleetJobs.id, jobId)).limit(1);
  if (!job) throw new AppError("not_found", "No such job.");
  throw new AppError("invalid_state", `A ${job.state} job cannot be ${verb}.`);
}

/**
 * Pauses a running job: no worker claims its items until it is resumed; items already running
 * finish and record their outcome. A conditional update, so of two racing calls one wins and the
 * other gets `invalid_state` (as does pausing a job that is not running).
 */
export async function pauseFleetJob(db: Database, jobId: string): Promise<FleetJobDto> {
  const [row] = await db.update(fleetJobs).set({ state: "paused", updatedAt: new Date() }).where(and(eq(fleetJobs.id, jobId), eq(fleetJobs.state, "running"))).returning();
  if (!row) await refuseTransition(db, jobId, "paused");
  return getFleetJobOrThrow(db, jobId);
}

/** Resumes a paused job where it stopped (`invalid_state` for one that is not paused). */
export async function resumeFleetJob(db: Database, jobId: string): Promise<FleetJobDto> {
  const [row] = await db.update(fleetJobs).set({ state: "running", updatedAt: new Date() }).where(and(eq(fleetJobs.id, jobId), eq(fleetJobs.state, "paused"))).returning();
  if (!row) await refuseTransition(db, jobId, "resumed");
  await finishJobIfDone(db, jobId);
  return getFleetJobOrThrow(db, jobId);
}

/**
 * Cancels a running or paused job, for good: its pending items (and running ones whose claim ran
 * out, so no worker holds them) become `cancelled` in the same transaction; items a worker is
 * running finish and record their real outcome. `invalid_state` for a job already over.
 */
export async function cancelFleetJob(db: Database, jobId: string): Promise<FleetJobDto> {
  const cancelled = await db.transaction(async (tx) => {
    const [row] = await tx
      .update(fleetJobs)
      .set({ state: "cancelled", updatedAt: new Date(), finishedAt: new Date() })
      .where(and(eq(fleetJobs.id, jobId), inArray(fleetJobs.state, ["running", "paused"])))
      .returning();
    if (!row) return false;
    await tx
      .update(fleetJobItems)
      .set({ state: "cancelled", finishedAt: new Date(), claimToken: null, claimExpiresAt: null })
      .where(
        and(
          eq(fleetJobItems.jobId, jobId),
          or(eq(fleetJobItems.state, "pending"), and(eq(fleetJobItems.state, "running"), lt(fleetJobItems.claimExpiresAt, sql`now()`))),
        ),
      );
    return true;
  });
  if (!cancelled) await refuseTransition(db, jobId, "cancelled");
  return getFleetJobOrThrow(db, jobId);
}

/** Marks a running job finished once no item is pending or running; a no-op otherwise (safe to repeat). */
export async function finishJobIfDone(db: Database, jobId: string): Promise<void> {
  await db
    .update(fleetJobs)
    .set({ state: "finished", finishedAt: new Date(), updatedAt: new Date() })
    .where(
      and(
        eq(fleetJobs.id, jobId),
        eq(fleetJobs.state, "running"),
        sql`not exists (select 1 from ${fleetJobItems} where ${fleetJobItems.jobId} = ${jobId} and ${fleetJobItems.state} in ('pending', 'running'))`,
      ),
    );
}

/** Marks finished every running job with no pending or running item left (one statement; safe to repeat). */
export async function finishDoneFleetJobs(db: Database): Promise<void> {
  await db
    .update(fleetJobs)
    .set({ state: "finished", finishedAt: sql`now()`, updatedAt: sql`now()` })
    .where(
      and(
        eq(fleetJobs.state, "running"),
        sql`not exists (select 1 from ${fleetJobItems} where ${fleetJobItems.jobId} = ${fleetJobs.id} and ${fleetJobItems.state} in ('pending', 'running'))`,
      ),
    );
}

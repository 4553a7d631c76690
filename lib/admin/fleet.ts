import { and, count, eq, gt, inArray, isNotNull, isNull, lte, or, sql, type SQL } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import { z } from "zod";
import type { Database } from "@/db";
import { instances, users, type InstanceStatus } from "@/db/schema";
import { AppError } from "@/lib/errors";
import { toInstanceDto, toInstanceEventDto, type InstanceDto, type InstanceEventDto } from "@/lib/instances/dto";
import { CRITICAL_WITHIN_MS, EXPIRING_WITHIN_MS } from "@/lib/instances/key-health";
import { listInstanceEvents } from "@/lib/instances/queries";
import { instanceIdSchema, keyHealthValues, type KeyHealth } from "@/lib/instances/schemas";
import { pepperFingerprint } from "@/lib/keys/fingerprints";
import { fleetSortValues, instanceStatusValues, type FleetQuery, type FleetSort } from "./schemas";

type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Compile-time guard: the zod-only status list in ./schemas matches the database enum. */
export type StatusValuesMatchDatabase = Exact<(typeof instanceStatusValues)[number], InstanceStatus> extends true ? true : never;

export interface FleetInstanceDto extends InstanceDto {
  owner: { id: string; email: string; name: string | null };
}

export interface FleetPage {
  instances: FleetInstanceDto[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

const iso = (date: Date) => sql`${date.toISOString()}::timestamptz`;

const effectiveExpiry = sql`coalesce(${instances.deployedKeyExpiresAt}, ${instances.keyExpiresAt})`;

/** SQL twin of pepperFingerprint() (lib/keys/fingerprints.ts); fleet.test.ts proves they agree. */
const ownerPepperFingerprint = sql`('pf_' || left(encode(sha256(convert_to('fleetdeck-pepper:' || ${users.apiTokenPepper}, 'UTF8')), 'hex'), 12))`;

/**
 * SQL twin of computeKeyHealth() (lib/instances/key-health.ts), same precedence, so the fleet can be
 * filtered and counted by health in the database. fleet.test.ts checks it against the function on
 * every combination of the fields it reads. Needs `users` joined as the instance's owner.
 */
export function keyHealthSql(now: Date): SQL<KeyHealth> {
  return sql<KeyHealth>`(case
    when ${instances.keyRevokedAt} is not null
      or (${instances.keyPepperFingerprint} is not null and ${instances.keyPepperFingerprint} <> ${ownerPepperFingerprint}) then 'revoked'
    when ${effectiveExpiry} is null then 'unknown'
    when ${instances.keyId} is not null and ${instances.deployedKeyId} is distinct from ${instances.keyId} then 'undeployed'
    when ${effectiveExpiry} <= ${iso(now)} then 'expired'
    when ${effectiveExpiry} <= ${iso(new Date(now.getTime() + CRITICAL_WITHIN_MS))} then 'critical'
    when ${effectiveExpiry} <= ${iso(new Date(now.getTime() + EXPIRING_WITHIN_MS))} then 'expiring'
    else 'ok' end)`;
}

/**
 * A range on the key expiry implied by expiry-based health values, so the planner can use the
 * expiry indexes (the CASE above stays the actual filter). Undefined when it would not narrow.
 */
function expiryRangeHint(health: readonly KeyHealth[], now: Date): SQL | undefined {
  const at = (ms: number) => new Date(now.getTime() + ms);
  const bounds: Partial<Record<KeyHealth, [Date | undefined, Date | undefined]>> = {
    expired: [undefined, now],
    critical: [now, at(CRITICAL_WITHIN_MS)],
    expiring: [at(CRITICAL_WITHIN_MS), at(EXPIRING_WITHIN_MS)],
    ok: [at(EXPIRING_WITHIN_MS), undefined],
  };
  const selected = health.map((value) => bounds[value]);
  if (selected.length === 0 || selected.some((range) => range === undefined)) return undefined;
  const ranges = selected as [Date | undefined, Date | undefined][];
  const lower = ranges.some(([from]) => !from) ? undefined : new Date(Math.min(...ranges.map(([from]) => from!.getTime())));
  const upper = ranges.some(([, to]) => !to) ? undefined : new Date(Math.max(...ranges.map(([, to]) => to!.getTime())));
  if (!lower && !upper) return undefined;
  const within = (column: PgColumn) =>
    and(isNotNull(column), lower ? gt(column, lower) : undefined, upper ? lte(column, upper) : undefined);
  return or(within(instances.deployedKeyExpiresAt), and(isNull(instances.deployedKeyExpiresAt), within(instances.keyExpiresAt)));
}

interface SortSpec {
  column: PgColumn;
  nullable: boolean;
  /** The row's sort value as the cursor stores it: exact (µs), never parsed by JS. */
  cursorValue: SQL<string | null>;
  /** The cursor's value as SQL; never throws in Postgres for a value `valueSchema` accepted. */
  fromCursor: (value: string) => SQL;
  valueSchema: z.ZodType<string>;
}

// Timestamps travel in cursors as integer microseconds since the epoch: exact, and turned back into
// a timestamp by integer arithmetic that cannot fail on any value the schema lets through.
const epochMicros = z.string().regex(/^-?\d{1,16}$/);
function timestampSort(column: PgColumn, nullable: boolean): SortSpec {
  return {
    column,
    nullable,
    cursorValue: sql<string | null>`(extract(epoch from ${column}) * 1000000)::bigint::text`,
    fromCursor: (value) => sql`(timestamptz 'epoch' + ${value}::bigint * interval '1 microsecond')`,
    valueSchema: epochMicros,
  };
}

const sorts: Record<FleetSort, SortSpec> = {
  deployedKeyExpiresAt: timestampSort(instances.deployedKeyExpiresAt, true),
  keyExpiresAt: timestampSort(instances.keyExpiresAt, true),
  lastActivityAt: timestampSort(instances.lastActivityAt, false),
  status: {
    column: instances.status,
    nullable: false,
    cursorValue: sql<string | null>`${instances.status}::text`,
    fromCursor: (value) => sql`${value}::instance_status`,
    valueSchema: z.enum(instanceStatusValues),
  },
};

const cursorSchema = z.strictObject({
  sort: z.enum(fleetSortValues),
  order: z.enum(["asc", "desc"]),
  value: z.string().max(64).nullable(),
  id: z.uuid(),
});
type Cursor = z.infer<typeof cursorSchema>;

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor), "utf8").toString("base64url");
}

function decodeCursor(raw: string, query: Pick<FleetQuery, "sort" | "order">): Cursor {
  const invalid = () => new AppError("bad_request", "The cursor is not valid for this query. Start again without one.");
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
  } catch {
    throw invalid();
  }
  const parsed = cursorSchema.safeParse(decoded);
  if (!parsed.success || parsed.data.sort !== query.sort || parsed.data.order !== query.order) throw invalid();
  const spec = sorts[query.sort];
  if (parsed.data.value === null ? !spec.nullable : !spec.valueSchema.safeParse(parsed.data.value).success) throw invalid();
  return parsed.data;
}

/** Rows after the cursor in `(sort column, id)` order; NULLs sort last ascending, first descending (Postgres' defaults, so the (column, id) indexes serve both). */
function afterCursor(spec: SortSpec, order: "asc" | "desc", cursor: Cursor): SQL {
  const id = sql`${cursor.id}::uuid`;
  const column = spec.column;
  if (order === "asc") {
    if (cursor.value === null) return sql`(${column} is null and ${instances.id} > ${id})`;
    const after = sql`(${column}, ${instances.id}) > (${spec.fromCursor(cursor.value)}, ${id})`;
    return spec.nullable ? sql`(${after} or ${column} is null)` : after;
  }
  if (cursor.value === null) return sql`(${column} is not null or ${instances.id} < ${id})`;
  return sql`(${column}, ${instances.id}) < (${spec.fromCursor(cursor.value)}, ${id})`;
}

/**
 * One page of the whole fleet (every user's instances: admin callers only), filtered by key health,
 * status and owner email, sorted by an indexed column with keyset pagination: pages never skip or
 * repeat rows while instances change, and each page costs the same however deep it is. Destroyed
 * instances appear only when the status filter asks for them. Health is as of `now`.
 */
export async function listFleetInstances(db: Database, query: FleetQuery, now: Date): Promise<FleetPage> {
  const rows = await fleetPageQuery(db, query, now);
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    instances: page.map((row) => ({
      ...toInstanceDto(row.instance, pepperFingerprint(row.ownerPepper), now),
      owner: { id: row.instance.ownerId, email: row.ownerEmail, name: row.ownerName },
    })),
    nextCursor:
      rows.length > query.limit && last
        ? encodeCursor({ sort: query.sort, order: query.order, value: last.sortValue, id: last.instance.id })
        : null,
  };
}

/** The page's query (one row more than the limit, to know whether another page follows); exported for the plan test. */
export function fleetPageQuery(db: Database, query: FleetQuery, now: Date) {
  const spec = sorts[query.sort];
  const cursor = query.cursor ? decodeCursor(query.cursor, query) : undefined;
  const health = keyHealthSql(now);
  const wantsDestroyed = query.status?.includes("destroyed") ?? false;
  const where = and(
    wantsDestroyed ? undefined : isNull(instances.destroyedAt),
    query.status?.length ? inArray(instances.status, query.status) : undefined,
    query.owner ? eq(users.email, query.owner) : undefined,
    query.keyHealth?.length ? sql`${health} in (${sql.join(query.keyHealth.map((value) => sql`${value}`), sql`, `)})` : undefined,
    query.keyHealth?.length ? expiryRangeHint(query.keyHealth, now) : undefined,
    cursor ? afterCursor(spec, query.order, cursor) : undefined,
  );
  const orderBy =
    query.order === "asc"
      ? [sql`${spec.column} asc nulls last`, sql`${instances.id} asc`]
      : [sql`${spec.column} desc nulls first`, sql`${instances.id} desc`];

  return db
    .select({
      instance: instances,
      ownerEmail: users.email,
      ownerName: users.name,
      ownerPepper: users.apiTokenPepper,
      sortValue: spec.cursorValue,
    })
    .from(instances)
    .innerJoin(users, eq(users.id, instances.ownerId))
    .where(where)
    .orderBy(...orderBy)
    .limit(query.limit + 1);
}

export interface KeyHealthCounts {
  /** Live (not destroyed) instances. */
  total: number;
  buckets: Record<KeyHealth, number>;
  computedAt: string;
}

/** How many live instances are in each key-health bucket as of `now` (every bucket present, zero or not). */
export async function countKeyHealth(db: Database, now: Date): Promise<KeyHealthCounts> {
  const rows = await db
    .select({ health: keyHealthSql(now), count: count() })
    .from(instances)
    .innerJoin(users, eq(users.id, instances.ownerId))
    .where(isNull(instances.destroyedAt))
    // By position: the CASE carries bound parameters, so repeating it would not match the select list.
    .groupBy(sql`1`);
  const buckets = Object.fromEntries(keyHealthValues.map((value) => [value, 0])) as Record<KeyHealth, number>;
  for (const row of rows) buckets[row.health] = Number(row.count);
  return { total: rows.reduce((sum, row) => sum + Number(row.count), 0), buckets, computedAt: now.toISOString() };
}

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

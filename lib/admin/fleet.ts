import "server-only";
import { and, count, eq, getTableColumns, gt, gte, inArray, isNotNull, isNull, lte, or, sql, type SQL } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import { z } from "zod";
import { queryRows, type Database } from "@/db";
import { instances, users, type InstanceStatus } from "@/db/schema";
import { getEnv } from "@/shared/env";
import { AppError } from "@/lib/errors";
import { hasControlCharacters } from "@/lib/validation/text";
import { toInstanceDto, toInstanceEventDto, type InstanceDto, type InstanceEventDto } from "@/lib/instances/dto";
import { CRITICAL_WITHIN_MS, EXPIRING_WITHIN_MS } from "@/lib/instances/key-health";
import { listInstanceEvents } from "@/lib/instances/queries";
import { REFRESH_BACKOFF_CAP_MS, refreshPointSql } from "@/lib/instances/refresh-due";
import { instanceIdSchema, keyHealthValues, type KeyHealth } from "@/lib/instances/schemas";
import { pepperFingerprint } from "@/lib/keys/fingerprints";
import { configuredSigningKeyIds } from "@/lib/tokens/configured";
import type { SigningKeyIds } from "@/lib/tokens/key-ring";
import { deployedSignerValues, fleetSortValues, instanceStatusValues, type DeployedSigner, type FleetFilter, type FleetQuery, type FleetSort } from "./schemas";

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

/** A page as the admin fleet view shows it: it can also go back. */
export interface FleetPageWithPrevious extends FleetPage {
  /** Pass as `cursor` for the page before this one; null on the first page. */
  prevCursor: string | null;
}

const iso = (date: Date) => sql`${date.toISOString()}::timestamptz`;

const effectiveExpiry = sql`coalesce(${instances.deployedKeyExpiresAt}, ${instances.keyExpiresAt})`;

/** SQL twin of pepperFingerprint() (lib/keys/fingerprints.ts) over any pepper expression; fleet.test.ts proves they agree. */
function pepperFingerprintSql(pepper: SQL | PgColumn): SQL {
  return sql`('pf_' || left(encode(sha256(convert_to('fleetdeck-pepper:' || ${pepper}, 'UTF8')), 'hex'), 12))`;
}

export interface KeyHealthSqlOptions {
  /** Where the owner's current pepper fingerprint comes from; by default `users` joined as the owner. */
  ownerFingerprint?: SQL;
  /** The key ring's `kid`s (this process's ring by default; null: no ring, keys not judged by signer). */
  signingKeys?: SigningKeyIds | null;
}

/** `column` is one of `values` (false for none), as SQL. */
function inList(column: PgColumn, values: readonly string[]): SQL {
  return values.length ? sql`${column} in (${sql.join(values.map((value) => sql`${value}`), sql`, `)})` : sql`false`;
}

/** SQL twin of signingKeyStatus(…) === "retired" for the latest key's `kid`. */
function signedUnderRetiredSecret(signingKeys: SigningKeyIds | null): SQL {
  if (!signingKeys) return sql`false`;
  return sql`(${instances.keySigningKid} is not null and ${instances.keySigningKid} <> ${signingKeys.current} and not ${inList(instances.keySigningKid, signingKeys.previous)})`;
}

/**
 * SQL twin of computeKeyHealth() (lib/instances/key-health.ts), same precedence, so the fleet can be
 * filtered and counted by health in the database. fleet.test.ts checks it against the function on
 * every combination of the fields it reads. Needs `users` joined as the instance's owner, unless
 * `ownerFingerprint` says where else the owner's current pepper fingerprint comes from.
 */
export function keyHealthSql(now: Date, options: KeyHealthSqlOptions = {}): SQL<KeyHealth> {
  const ownerFingerprint = options.ownerFingerprint ?? pepperFingerprintSql(users.apiTokenPepper);
  const signingKeys = options.signingKeys === undefined ? configuredSigningKeyIds() : options.signingKeys;
  return sql<KeyHealth>`(case
    when ${instances.keyRevokedAt} is not null
      or (${instances.keyPepperFingerprint} is not null and ${instances.keyPepperFingerprint} <> ${ownerFingerprint})
      or ${signedUnderRetiredSecret(signingKeys)} then 'revoked'
    when ${effectiveExpiry} is null then 'unknown'
    when ${instances.keyId} is not null and ${instances.deployedKeyId} is distinct from ${instances.keyId} then 'undeployed'
    when ${effectiveExpiry} <= ${iso(now)} then 'expired'
    when ${effectiveExpiry} <= ${iso(new Date(now.getTime() + CRITICAL_WITHIN_MS))} then 'critical'
    when ${inList(instances.keySigningKid, signingKeys?.previous ?? [])} then 'previous_signing_key'
    when ${effectiveExpiry} <= ${iso(new Date(now.getTime() + EXPIRING_WITHIN_MS))} then 'expiring'
    else 'ok' end)`;
}

/**
 * "The row's health is one of `values`", written as a boolean CASE: the planner cannot estimate
 * it either way, and then assumes half the rows match, which is about right for the filters admins
 * use and keeps it walking the sort index with an early stop instead of scanning and sorting (as it
 * does when it believes `health in (…)` matches 1 row in 200).
 */
function healthIn(values: readonly KeyHealth[], now: Date): SQL {
  return sql`(case ${keyHealthSql(now)} ${sql.join(values.map((value) => sql`when ${value} then true`), sql` `)} else false end)`;
}

const EXPIRY_HEALTH = new Set<KeyHealth>(["expired", "critical", "expiring", "ok"]);

/** The expiry range implied by expiry-based health values; undefined when some value is not expiry-based or it would not narrow. */
function expiryRange(health: readonly KeyHealth[], now: Date): [Date | undefined, Date | undefined] | undefined {
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
  return [lower, upper];
}

/**
 * Conditions every row of the health values must meet, on instance columns alone (the CASE stays
 * the actual filter). They let the planner use the expiry indexes and estimate how many rows
 * qualify, and they drop most non-matching rows before the owner is joined. `deployedNull` is set
 * when the caller knows whether the deployed expiry is null (a segment of the deployed-expiry
 * sort): an expiry range then lands on one column, as an index range. `false` means no row of
 * that segment can match.
 */
function healthHints(health: readonly KeyHealth[], now: Date, deployedNull?: boolean): SQL | false | undefined {
  const notRevoked = isNull(instances.keyRevokedAt);
  const conditions: (SQL | false | undefined)[] = [];
  const expiryBased = health.filter((value) => EXPIRY_HEALTH.has(value));
  if (expiryBased.length) {
    const range = expiryRange(expiryBased, now);
    const within = (column: PgColumn) =>
      and(isNotNull(column), range?.[0] ? gt(column, range[0]) : undefined, range?.[1] ? lte(column, range[1]) : undefined);
    const inRange = !range
      ? undefined
      : deployedNull === false
        ? within(instances.deployedKeyExpiresAt)
        : deployedNull === true
          ? within(instances.keyExpiresAt)
          : or(within(instances.deployedKeyExpiresAt), and(isNull(instances.deployedKeyExpiresAt), within(instances.keyExpiresAt)));
    // A key revoked by a rotation is `revoked`, whatever its expiry.
    conditions.push(and(notRevoked, inRange));
  }
  for (const value of health) {
    if (value === "revoked") {
      conditions.push(or(isNotNull(instances.keyRevokedAt), isNotNull(instances.keyPepperFingerprint), isNotNull(instances.keySigningKid)));
    } else if (value === "previous_signing_key") {
      const previous = configuredSigningKeyIds()?.previous ?? [];
      conditions.push(previous.length ? and(notRevoked, inArray(instances.keySigningKid, [...previous])) : false);
    } else if (value === "unknown") {
      // No expiry at all. The two expiry columns are null together, so one of them is the hint (both
      // would make the planner multiply their odds as if they were independent).
      conditions.push(deployedNull === false ? false : and(notRevoked, isNull(instances.deployedKeyExpiresAt)));
    } else if (value === "undeployed") {
      conditions.push(
        and(notRevoked, isNotNull(instances.keyId), or(isNull(instances.deployedKeyId), sql`${instances.deployedKeyId} <> ${instances.keyId}`)),
      );
    }
  }
  const possible = conditions.filter((condition): condition is SQL | undefined => condition !== false);
  if (possible.length === 0) return health.length ? false : undefined;
  if (possible.some((condition) => condition === undefined)) return undefined;
  return possible.length === 1 ? possible[0] : or(...possible);
}

/** `text` as a LIKE pattern that matches only itself (backslash is LIKE's default escape). */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (character) => `\\${character}`);
}

/**
 * Owner email prefix, case-insensitive. Written as `lower(email) like 'prefix%'` so a
 * `lower(email) text_pattern_ops` index on users can serve it; without one it scans users.
 */
function ownerSearchCondition(prefix: string): SQL {
  return sql`lower(${users.email}) like ${`${escapeLike(prefix.toLowerCase())}%`}`;
}

/**
 * The WHERE clause of a fleet filter (needs `users` joined as the owner). Destroyed instances are
 * included only when the status filter asks for them. Health is as of `now`.
 */
function fleetFilterWhere(filter: FleetFilter, now: Date, options: { deployedNull?: boolean } = {}): SQL | false | undefined {
  const wantsDestroyed = filter.status?.includes("destroyed") ?? false;
  const hints = filter.keyHealth?.length ? healthHints(filter.keyHealth, now, options.deployedNull) : undefined;
  if (hints === false) return false;
  return and(
    wantsDestroyed ? undefined : isNull(instances.destroyedAt),
    filter.status?.length ? inArray(instances.status, filter.status) : undefined,
    filter.owner ? eq(users.email, filter.owner) : undefined,
    filter.ownerSearch ? ownerSearchCondition(filter.ownerSearch) : undefined,
    filter.keyHealth?.length ? healthIn(filter.keyHealth, now) : undefined,
    hints,
  );
}

interface SortSpec {
  column: PgColumn;
  nullable: boolean;
  /** The row's sort value as the cursor stores it: exact (µs for timestamps), never parsed by JS. */
  cursorValue: SQL<string | null>;
  /** The cursor's value as SQL; never throws in Postgres for a value `valueSchema` accepted. */
  fromCursor: (value: string) => SQL;
  valueSchema: z.ZodType<string>;
  /**
   * The column is not in `instances` (the owner's email), so no (column, id) index exists: the
   * cursor's bound is repeated on the column alone, so the column's own index can start there.
   */
  boundOnColumn?: boolean;
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
  owner: {
    column: users.email,
    nullable: false,
    cursorValue: sql<string | null>`${users.email}`,
    fromCursor: (value) => sql`${value}::text`,
    // A NUL byte would make Postgres itself fail the `::text` cast (a 500), so it never gets there.
    valueSchema: z.string().min(1).max(320).refine((value) => !hasControlCharacters(value)),
    boundOnColumn: true,
  },
};

const cursorSchema = z.strictObject({
  sort: z.enum(fleetSortValues),
  order: z.enum(["asc", "desc"]),
  value: z.string().max(320).nullable(),
  id: z.uuid(),
  /** `before`: the page that ends just before this row (going back). Absent means `after`. */
  dir: z.literal("before").optional(),
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

interface Segment {
  where: SQL | undefined;
  /** Whether the sort column is null throughout the segment (nullable sorts only). */
  columnNull?: boolean;
}

/**
 * The rows beyond the cursor when walking in `walk` order over `(sort column, id)`, as contiguous
 * stretches of the (column, id) index, in walk order. NULLs sort last ascending and first
 * descending (Postgres' defaults, so the indexes serve both ways). A nullable column's non-null and
 * NULL stretches are separate segments: `(column, id) > (…)` and `column is null` are each an index
 * condition, where one `… or column is null` could only be a filter over the whole index, making
 * deep pages cost more than the first.
 */
function walkSegments(spec: SortSpec, walk: "asc" | "desc", cursor: Cursor | undefined): Segment[] {
  const column = spec.column;
  const beyond = (value: string) => {
    const bound = spec.fromCursor(value);
    const id = sql`${cursor!.id}::uuid`;
    return walk === "asc"
      ? and(spec.boundOnColumn ? gte(column, bound) : undefined, sql`(${column}, ${instances.id}) > (${bound}, ${id})`)
      : and(spec.boundOnColumn ? lte(column, bound) : undefined, sql`(${column}, ${instances.id}) < (${bound}, ${id})`);
  };
  if (!spec.nullable) return [{ where: cursor ? beyond(cursor.value!) : undefined }];

  const nonNull: Segment = { where: cursor && cursor.value !== null ? beyond(cursor.value) : isNotNull(column), columnNull: false };
  const idBeyond = cursor?.value === null ? sql`${instances.id} ${walk === "asc" ? sql`>` : sql`<`} ${cursor.id}::uuid` : undefined;
  const nulls: Segment = { where: and(isNull(column), idBeyond), columnNull: true };
  if (walk === "asc") return cursor?.value === null ? [nulls] : [nonNull, nulls];
  return cursor && cursor.value !== null ? [nonNull] : [nulls, nonNull];
}

const flip = (order: "asc" | "desc") => (order === "asc" ? "desc" : "asc");

/**
 * One page of the whole fleet (every user's instances: admin callers only), filtered by key health,
 * status and owner email (exact, or a prefix with `ownerSearch`), sorted by an indexed column with
 * keyset pagination: pages never skip or repeat rows while instances change, and each page costs
 * the same however deep it is. Destroyed instances appear only when the status filter asks for
 * them. Health is as of `now`. Throws `bad_request` for a cursor of another sort or order.
 */
export async function listFleetInstances(db: Database, query: FleetQuery, now: Date): Promise<FleetPage> {
  const { instances: page, nextCursor } = await listFleetPage(db, query, now);
  return { instances: page, nextCursor };
}

/**
 * listFleetInstances, plus a cursor back to the previous page (the admin fleet view's "Previous").
 * A `prevCursor` walks the index the other way from the page's first row, so going back costs the
 * same as going forward.
 */
export async function listFleetPage(db: Database, query: FleetQuery, now: Date): Promise<FleetPageWithPrevious> {
  const cursor = query.cursor ? decodeCursor(query.cursor, query) : undefined;
  const backwards = cursor?.dir === "before";
  const rows: Awaited<ReturnType<ReturnType<typeof fleetPageQueries>[number]>> = [];
  for (const segment of fleetPageQueries(db, query, now)) {
    rows.push(...(await segment(query.limit + 1 - rows.length)));
    if (rows.length > query.limit) break;
  }
  const more = rows.length > query.limit;
  const page = rows.slice(0, query.limit);
  if (backwards) page.reverse();
  const [first, last] = [page[0], page.at(-1)];
  const at = (row: (typeof page)[number], dir?: "before"): string =>
    encodeCursor({ sort: query.sort, order: query.order, value: row.sortValue, id: row.instance.id, ...(dir ? { dir } : {}) });
  return {
    instances: page.map((row) => ({
      ...toInstanceDto({ ...row.instance, encryptedKey: null }, pepperFingerprint(row.ownerPepper), now),
      owner: { id: row.instance.ownerId, email: row.ownerEmail, name: row.ownerName },
    })),
    // Going back, the rows after this page are the ones we came from.
    nextCursor: last && (backwards || more) ? at(last) : null,
    prevCursor: first && (backwards ? more : cursor !== undefined) ? at(first, "before") : null,
  };
}

// Every instance column but the encrypted key: a list never needs key material (nor its bytes).
const { encryptedKey: _encryptedKey, ...listedColumns } = getTableColumns(instances);
void _encryptedKey;

/**
 * The page's queries, one per segment of the walk (see walkSegments), each taking the number of
 * rows still wanted: listFleetPage runs them in order until it has one row more than the limit (to
 * know whether another page follows). Exported for the plan test.
 */
export function fleetPageQueries(db: Database, query: FleetQuery, now: Date) {
  const spec = sorts[query.sort];
  const cursor = query.cursor ? decodeCursor(query.cursor, query) : undefined;
  // A `before` cursor walks the other way; listFleetPage puts the rows back in page order.
  const walk = cursor?.dir === "before" ? flip(query.order) : query.order;
  const orderBy =
    walk === "asc"
      ? [sql`${spec.column} asc nulls last`, sql`${instances.id} asc`]
      : [sql`${spec.column} desc nulls first`, sql`${instances.id} desc`];
  return walkSegments(spec, walk, cursor).flatMap((segment) => {
    // In the deployed-expiry sort each segment knows whether that expiry is null, so a health
    // filter's expiry range becomes an index range on the column being walked (and a segment
    // where no row can match is not queried at all).
    const deployedNull = spec.column === instances.deployedKeyExpiresAt ? segment.columnNull : undefined;
    const filter = fleetFilterWhere(query, now, { deployedNull });
    if (filter === false) return [];
    const where = and(filter, segment.where);
    return (limit: number) =>
      db
        .select({
          instance: listedColumns,
          ownerEmail: users.email,
          ownerName: users.name,
          ownerPepper: users.apiTokenPepper,
          sortValue: spec.cursorValue,
        })
        .from(instances)
        .innerJoin(users, eq(users.id, instances.ownerId))
        .where(where)
        .orderBy(...orderBy)
        .limit(limit);
  });
}

export interface BulkTarget {
  id: string;
  ownerId: string;
  name: string;
  ownerEmail: string;
}

/**
 * The instances a bulk operation over "everything matching this filter" touches, in the view's
 * sort order: at most `cap` of them (`truncated` says more matched). Destroyed and destroying
 * instances are left out: there is nothing to redeploy. A snapshot: instances that start matching
 * later are not included, and ones that stop matching are still acted on.
 */
export async function listBulkTargets(
  db: Database,
  query: Pick<FleetQuery, keyof FleetFilter | "sort" | "order">,
  now: Date,
  cap: number,
): Promise<{ targets: BulkTarget[]; truncated: boolean }> {
  const spec = sorts[query.sort];
  const filter = fleetFilterWhere(query, now);
  if (filter === false) return { targets: [], truncated: false };
  const rows = await db
    .select({ id: instances.id, ownerId: instances.ownerId, name: instances.name, ownerEmail: users.email })
    .from(instances)
    .innerJoin(users, eq(users.id, instances.ownerId))
    .where(and(filter, isNull(instances.destroyedAt), sql`${instances.status} not in ('destroyed', 'destroying')`))
    .orderBy(
      ...(query.order === "asc"
        ? [sql`${spec.column} asc nulls last`, sql`${instances.id} asc`]
        : [sql`${spec.column} desc nulls first`, sql`${instances.id} desc`]),
    )
    .limit(cap + 1);
  return { targets: rows.slice(0, cap), truncated: rows.length > cap };
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

/** Days ahead the overview's expiry histogram covers. */
export const EXPIRY_HISTOGRAM_DAYS = 30;

export type LiveInstanceStatus = Exclude<InstanceStatus, "destroyed">;

export interface FleetOverview extends KeyHealthCounts {
  /** Live instances per lifecycle state (every state present). */
  statuses: Record<LiveInstanceStatus, number>;
  /** Live instances per lifecycle state and key health: how many a status and health filter matches. */
  statusHealth: Record<LiveInstanceStatus, Record<KeyHealth, number>>;
  /**
   * Usable keys (health ok, previous_signing_key, expiring or critical) by when they expire: entry `d - 1` counts the
   * keys expiring more than `d - 1` and at most `d` days after `computedAt`, d = 1…30. The health
   * thresholds fall on whole days, so days 1–3 are exactly the critical keys and 4–7 the expiring.
   */
  expiringPerDay: number[];
  /**
   * Running instances by the secret their deployed key is signed under: what a signing-secret
   * rotation's progress is read from (done when none is on `previous` or `retired`). `unrecorded`:
   * deployed before keys carried a `kid`; the scheduler re-keys those too.
   */
  runningBySigner: Record<DeployedSigner, number>;
  /** How many verify-only secrets NEXTAUTH_SECRET_PREVIOUS holds: more than 0 while a rotation is rolled out. */
  previousSigningSecrets: number;
  /** Earliest deployed-key expiry among running instances (ISO); null when none is running with one. */
  runningKeyExpiresEarliestAt: string | null;
  /** Running instances past their refresh point (or revoked) by more than the refresh backoff cap. */
  refreshOverdue: number;
}

export interface FleetOverviewOptions {
  /** PROACTIVE_REFRESH_THRESHOLD_HOURS: a running key is due this long before it expires (spread by its jitter). */
  refreshThresholdHours?: number;
  /** The key ring's `kid`s (this process's ring by default). */
  signingKeys?: SigningKeyIds | null;
}

/** Which secret signed a running instance's deployed key. */
function deployedSignerSql(signingKeys: SigningKeyIds | null): SQL {
  if (!signingKeys) return sql`'current'`;
  return sql`case when ${instances.deployedKeySigningKid} is null then 'unrecorded'
    when ${instances.deployedKeySigningKid} = ${signingKeys.current} then 'current'
    when ${inList(instances.deployedKeySigningKid, signingKeys.previous)} then 'previous'
    else 'retired' end`;
}

/**
 * getFleetOverview's one query: live instances counted by (status, key health, days to expiry),
 * each row also carrying the running instances' figures — earliest deployed-key expiry, overdue
 * refreshes, and counts by signing secret (the same on every row). Exported for the benchmark.
 */
export function fleetOverviewQuery(now: Date, options: FleetOverviewOptions = {}): SQL {
  const signingKeys = options.signingKeys === undefined ? configuredSigningKeyIds() : options.signingKeys;
  const ownerFingerprint = sql`owners.pepper_fingerprint`;
  const horizon = new Date(now.getTime() + EXPIRY_HISTOGRAM_DAYS * 24 * 3600 * 1000);
  // Overdue: the refresh point (its jittered place before expiry, or the revocation) passed more than
  // one backoff cap ago, so even a refresh that failed and waited its longest should have run by now.
  const thresholdHours = options.refreshThresholdHours ?? getEnv().PROACTIVE_REFRESH_THRESHOLD_HOURS;
  const overdueSince = iso(new Date(now.getTime() - REFRESH_BACKOFF_CAP_MS));
  // The running figures are a separate small aggregate: as extra aggregates (or group keys) of the
  // grouped scan they made the planner trade its hash aggregate for a sort spilling to disk.
  return sql`with counts as (
          select ${instances.status} as status,
                 ${keyHealthSql(now, { ownerFingerprint, signingKeys })} as health,
                 case when ${effectiveExpiry} > ${iso(now)} and ${effectiveExpiry} <= ${iso(horizon)}
                      then ceil(extract(epoch from ${effectiveExpiry} - ${iso(now)}) / 86400)::int end as day,
                 count(*)::text as count
          from ${instances}
          -- OFFSET 0 keeps the subquery whole, so the hash join carries one fingerprint per owner.
          join (select ${users.id} as id, ${pepperFingerprintSql(users.apiTokenPepper)} as pepper_fingerprint from ${users} offset 0) owners
            on owners.id = ${instances.ownerId}
          where ${instances.destroyedAt} is null
          group by 1, 2, 3
        ), running as (
          select extract(epoch from min(deployed_key_expires_at))::float8 as earliest_expiry,
                 (count(*) filter (where refresh_point <= ${overdueSince} or key_revoked_at <= ${overdueSince}))::int as overdue,
                 (count(*) filter (where signer = 'current'))::int as signer_current,
                 (count(*) filter (where signer = 'previous'))::int as signer_previous,
                 (count(*) filter (where signer = 'retired'))::int as signer_retired,
                 (count(*) filter (where signer = 'unrecorded'))::int as signer_unrecorded
          from (select ${instances.deployedKeyExpiresAt} as deployed_key_expires_at, ${instances.keyRevokedAt} as key_revoked_at,
                       ${refreshPointSql(thresholdHours)} as refresh_point, ${deployedSignerSql(signingKeys)} as signer
                from ${instances}
                where ${instances.destroyedAt} is null and ${instances.status} = 'running') r
        )
        select counts.*, running.* from counts cross join running`;
}

/**
 * The fleet at a glance as of `now`: live instances per status, per key-health bucket (equal to
 * countKeyHealth), usable keys expiring per day over the next 30 days, the earliest key expiry
 * on a running instance and the overdue refreshes (the metrics' fleet gauges), in one pass over the
 * fleet. Each owner's pepper fingerprint is computed once per owner, not once per instance.
 */
export async function getFleetOverview(db: Database, now: Date, options: FleetOverviewOptions = {}): Promise<FleetOverview> {
  const signingKeys = options.signingKeys === undefined ? configuredSigningKeyIds() : options.signingKeys;
  const rows = await queryRows<{
    status: LiveInstanceStatus;
    health: KeyHealth;
    day: number | null;
    count: string;
    earliest_expiry: number | null;
    overdue: number;
    signer_current: number;
    signer_previous: number;
    signer_retired: number;
    signer_unrecorded: number;
  }>(db, fleetOverviewQuery(now, { ...options, signingKeys }));
  const runningBySigner = Object.fromEntries(deployedSignerValues.map((value) => [value, 0])) as Record<DeployedSigner, number>;
  const buckets = Object.fromEntries(keyHealthValues.map((value) => [value, 0])) as Record<KeyHealth, number>;
  const liveStatuses = instanceStatusValues.filter((value): value is LiveInstanceStatus => value !== "destroyed");
  const statuses = Object.fromEntries(liveStatuses.map((value) => [value, 0])) as Record<LiveInstanceStatus, number>;
  const statusHealth = Object.fromEntries(
    liveStatuses.map((status) => [status, Object.fromEntries(keyHealthValues.map((value) => [value, 0]))]),
  ) as Record<LiveInstanceStatus, Record<KeyHealth, number>>;
  const expiringPerDay = Array.from({ length: EXPIRY_HISTOGRAM_DAYS }, () => 0);
  let total = 0;
  let earliestExpiry: number | null = null;
  let refreshOverdue = 0;
  for (const row of rows) {
    const n = Number(row.count);
    total += n;
    // The same on every row.
    earliestExpiry = row.earliest_expiry === null ? null : Number(row.earliest_expiry);
    refreshOverdue = Number(row.overdue);
    runningBySigner.current = Number(row.signer_current);
    runningBySigner.previous = Number(row.signer_previous);
    runningBySigner.retired = Number(row.signer_retired);
    runningBySigner.unrecorded = Number(row.signer_unrecorded);
    buckets[row.health] += n;
    if (row.status in statuses) {
      statuses[row.status] += n;
      statusHealth[row.status][row.health] += n;
    }
    const usable = row.health === "ok" || row.health === "previous_signing_key" || row.health === "expiring" || row.health === "critical";
    if (usable && row.day !== null && row.day >= 1 && row.day <= EXPIRY_HISTOGRAM_DAYS) expiringPerDay[row.day - 1]! += n;
  }
  const runningKeyExpiresEarliestAt = earliestExpiry === null ? null : new Date(earliestExpiry * 1000).toISOString();
  return {
    total,
    buckets,
    statuses,
    statusHealth,
    expiringPerDay,
    runningBySigner,
    previousSigningSecrets: signingKeys?.previous.length ?? 0,
    runningKeyExpiresEarliestAt,
    refreshOverdue,
    computedAt: now.toISOString(),
  };
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

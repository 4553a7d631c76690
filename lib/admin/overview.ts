import "server-only";
import { count, eq, isNull, sql, type SQL } from "drizzle-orm";
import { queryRows, type Database } from "@/db";
import { instances, users, type InstanceStatus } from "@/db/schema";
import { getEnv } from "@/shared/env";
import { REFRESH_BACKOFF_CAP_MS, refreshPointSql } from "@/lib/instances/refresh-due";
import { keyHealthValues, type KeyHealth } from "@/lib/instances/schemas";
import { configuredSigningKeyIds } from "@/lib/tokens/configured";
import type { SigningKeyIds } from "@/lib/tokens/key-ring";
import { effectiveExpiry, inList, iso, keyHealthSql, pepperFingerprintSql } from "./key-health-sql";
import { compactHealthCounts, healthCells, runningFigures, runningSigners, type HealthCell } from "./health-counts";
import { instanceStatusValues, type DeployedSigner } from "./schemas";

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
 * scanFleetOverview's one query: live instances counted by (status, key health, days to expiry),
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

interface OverviewFigures {
  earliestExpiry: number | null;
  overdue: number;
  runningBySigner: Record<DeployedSigner, number>;
}

/** The overview from its (status, health, day) cells (signed counts, summed) and the running figures. */
function foldOverview(cells: HealthCell[], figures: OverviewFigures, now: Date, signingKeys: SigningKeyIds | null): FleetOverview {
  const buckets = Object.fromEntries(keyHealthValues.map((value) => [value, 0])) as Record<KeyHealth, number>;
  const liveStatuses = instanceStatusValues.filter((value): value is LiveInstanceStatus => value !== "destroyed");
  const statuses = Object.fromEntries(liveStatuses.map((value) => [value, 0])) as Record<LiveInstanceStatus, number>;
  const statusHealth = Object.fromEntries(
    liveStatuses.map((status) => [status, Object.fromEntries(keyHealthValues.map((value) => [value, 0]))]),
  ) as Record<LiveInstanceStatus, Record<KeyHealth, number>>;
  const expiringPerDay = Array.from({ length: EXPIRY_HISTOGRAM_DAYS }, () => 0);
  let total = 0;
  for (const cell of cells) {
    const n = Number(cell.count);
    const status = cell.status as LiveInstanceStatus;
    total += n;
    buckets[cell.health] += n;
    if (status in statuses) {
      statuses[status] += n;
      statusHealth[status][cell.health] += n;
    }
    const usable = cell.health === "ok" || cell.health === "previous_signing_key" || cell.health === "expiring" || cell.health === "critical";
    const day = cell.day === null ? null : Number(cell.day);
    if (usable && day !== null && day >= 1 && day <= EXPIRY_HISTOGRAM_DAYS) expiringPerDay[day - 1]! += n;
  }
  return {
    total,
    buckets,
    statuses,
    statusHealth,
    expiringPerDay,
    runningBySigner: figures.runningBySigner,
    previousSigningSecrets: signingKeys?.previous.length ?? 0,
    runningKeyExpiresEarliestAt: figures.earliestExpiry === null ? null : new Date(figures.earliestExpiry * 1000).toISOString(),
    refreshOverdue: figures.overdue,
    computedAt: now.toISOString(),
  };
}

/**
 * The fleet at a glance as of `now`: live instances per status, per key-health bucket (equal to
 * countKeyHealth), usable keys expiring per day over the next 30 days, running instances per
 * signing secret, the earliest key expiry on a running instance and the overdue refreshes (the
 * metrics' fleet gauges). Read from the counts the database keeps (lib/admin/health-counts.ts), so
 * its cost grows with the number of distinct (class, 15-minute expiry) cells and the instances in
 * the boundary buckets, not with the fleet; equal to scanFleetOverview.
 */
export async function getFleetOverview(db: Database, now: Date, options: FleetOverviewOptions = {}): Promise<FleetOverview> {
  const signingKeys = options.signingKeys === undefined ? configuredSigningKeyIds() : options.signingKeys;
  const thresholdHours = options.refreshThresholdHours ?? getEnv().PROACTIVE_REFRESH_THRESHOLD_HOURS;
  // One transaction: one snapshot for every part, and no JIT. The planner cannot know how few rows
  // the boundary and window ranges hold (their bounds are parameters), prices the queries as
  // scans of the fleet and would spend longer compiling them than running them.
  const [cells, running, runningBySigner] = await db.transaction(async (tx) => {
    await tx.execute(sql`set local jit = off`);
    return [await healthCells(tx, now, signingKeys), await runningFigures(tx, now, thresholdHours), await runningSigners(tx, signingKeys)] as const;
  });
  await compactHealthCounts(db);
  return foldOverview(cells, { ...running, runningBySigner }, now, signingKeys);
}

/**
 * The same overview in one pass over every live instance (fleetOverviewQuery): the reference the
 * counts are checked against, and what the benchmark compares them with.
 */
export async function scanFleetOverview(db: Database, now: Date, options: FleetOverviewOptions = {}): Promise<FleetOverview> {
  const signingKeys = options.signingKeys === undefined ? configuredSigningKeyIds() : options.signingKeys;
  const rows = await queryRows<
    HealthCell & {
      earliest_expiry: number | null;
      overdue: number;
      signer_current: number;
      signer_previous: number;
      signer_retired: number;
      signer_unrecorded: number;
    }
  >(db, fleetOverviewQuery(now, { ...options, signingKeys }));
  // The running figures are the same on every row.
  const first = rows[0];
  const figures: OverviewFigures = {
    earliestExpiry: first?.earliest_expiry == null ? null : Number(first.earliest_expiry),
    overdue: Number(first?.overdue ?? 0),
    runningBySigner: {
      current: Number(first?.signer_current ?? 0),
      previous: Number(first?.signer_previous ?? 0),
      retired: Number(first?.signer_retired ?? 0),
      unrecorded: Number(first?.signer_unrecorded ?? 0),
    },
  };
  return foldOverview(rows, figures, now, signingKeys);
}

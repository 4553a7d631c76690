import "server-only";
import { and, eq, isNull, or, sql, type SQL } from "drizzle-orm";
import { queryRows, type Database } from "@/db";
import { instances, users } from "@/db/schema";
import { REFRESH_BACKOFF_CAP_MS, REFRESH_JITTER_SHARE, refreshPointSql } from "@/lib/instances/refresh-due";
import type { KeyHealth } from "@/lib/instances/schemas";
import type { SigningKeyIds } from "@/lib/tokens/key-ring";
import { effectiveExpiry, inList, iso, keyHealthSql, pepperFingerprintSql } from "./key-health-sql";
import type { DeployedSigner } from "./schemas";

// The overview read from fleet_health_counts (db/schema/fleet-health.ts), the counts the triggers
// on `instances` keep. The counts hold each live instance's class without the clock: its active
// key's expiry is a 15-minute bucket. The health thresholds (now, +3 d, +7 d) and the histogram's
// day boundaries (now + k days) all fall at the same offset inside their bucket, so every other
// bucket lies wholly on one side of each: those are classified from the counts, and only the
// instances in the 31 buckets a boundary falls in are read one by one. Equal to computeKeyHealth
// by construction and by overview.test.ts.

const BUCKET_SECONDS = 900;
const BUCKETS_PER_DAY = 86_400 / BUCKET_SECONDS;
const HORIZON_DAYS = 30;

/** One (status, health, day) cell of the overview, with a signed count (corrections subtract). */
export interface HealthCell {
  status: string;
  health: KeyHealth;
  day: number | null;
  count: string;
}

const retiredKid = (column: SQL, keys: SigningKeyIds | null) =>
  keys ? sql`(${column} is not null and ${column} <> ${keys.current} and not ${inList(column, keys.previous)})` : sql`false`;

/** The half-open expiry ranges of the buckets a boundary (now + k days, k = 0…30) falls in. */
function boundaryRanges(nowBucket: number): [Date, Date][] {
  return Array.from({ length: HORIZON_DAYS + 1 }, (_, k) => {
    const start = (nowBucket + k * BUCKETS_PER_DAY) * BUCKET_SECONDS * 1000;
    return [new Date(start), new Date(start + BUCKET_SECONDS * 1000)];
  });
}

function inBoundaryBucket(nowBucket: number): SQL {
  const ranges = boundaryRanges(nowBucket).map(([from, to]) => sql`(${effectiveExpiry} >= ${iso(from)} and ${effectiveExpiry} < ${iso(to)})`);
  return sql`(${sql.join(ranges, sql` or `)})`;
}

/** Days to expiry as the overview bins them (1…30), null outside the horizon. */
function daySql(now: Date): SQL {
  const horizon = new Date(now.getTime() + HORIZON_DAYS * 86_400_000);
  return sql`case when ${effectiveExpiry} > ${iso(now)} and ${effectiveExpiry} <= ${iso(horizon)}
    then ceil(extract(epoch from ${effectiveExpiry} - ${iso(now)}) / 86400)::int end`;
}

/**
 * Live instances per (status, key health, days to expiry) as of `now`, as signed cells to add up:
 * whole buckets from the counts, the boundary buckets' instances exactly, and a correction for
 * keys stored under a pepper fingerprint that is not their owner's (only owners in
 * fleet_pepper_recheck can have one), which the counts cannot see.
 */
export async function healthCells(db: Database, now: Date, signingKeys: SigningKeyIds | null): Promise<HealthCell[]> {
  const b = Math.floor(now.getTime() / 1000 / BUCKET_SECONDS);
  const kid = sql`key_signing_kid`;
  const fromCounts = () => queryRows<HealthCell>(
    db,
    sql`select status, health, day, sum(n)::text as count from (
          select status, case
              when revoked or ${retiredKid(kid, signingKeys)} then 'revoked'
              when expiry_bucket is null then 'unknown'
              when undeployed then 'undeployed'
              when expiry_bucket < ${b}::bigint then 'expired'
              when expiry_bucket < ${b + 3 * BUCKETS_PER_DAY}::bigint then 'critical'
              when ${inList(kid, signingKeys?.previous ?? [])} then 'previous_signing_key'
              when expiry_bucket < ${b + 7 * BUCKETS_PER_DAY}::bigint then 'expiring'
              else 'ok' end as health,
            case when expiry_bucket > ${b}::bigint and expiry_bucket < ${b + HORIZON_DAYS * BUCKETS_PER_DAY}::bigint
              then ((expiry_bucket - ${b}::bigint) / ${BUCKETS_PER_DAY} + 1)::int end as day,
            n
          from (select status, revoked, key_signing_kid, undeployed, expiry_bucket, sum(n) as n
                from fleet_health_counts group by 1, 2, 3, 4, 5 having sum(n) <> 0) c
          where expiry_bucket is null or expiry_bucket < ${b}::bigint or expiry_bucket > ${b + HORIZON_DAYS * BUCKETS_PER_DAY}::bigint
             or (expiry_bucket - ${b}::bigint) % ${BUCKETS_PER_DAY} <> 0
        ) x group by 1, 2, 3`,
  );
  const live = isNull(instances.destroyedAt);
  // Each boundary bucket is its own index range (a lateral join over the ranges), and the owner's
  // pepper is looked up row by row: the planner cannot know how few rows the ranges hold and would
  // otherwise scan the fleet, or hash every user.
  const ownerFingerprint = pepperFingerprintSql(users.apiTokenPepper);
  const ownersFingerprint = sql`(select ${ownerFingerprint} from ${users} where ${users.id} = ${instances.ownerId})`;
  const ranges = sql.join(boundaryRanges(b).map(([from, to]) => sql`(${iso(from)}, ${iso(to)})`), sql`, `);
  const boundary = () => queryRows<HealthCell>(
    db,
    sql`select status, health, day, count(*)::text as count
        from (values ${ranges}) as bucket (starts, ends)
        cross join lateral (
          select ${instances.status} as status, ${keyHealthSql(now, { signingKeys, ownerFingerprint: ownersFingerprint })} as health, ${daySql(now)} as day
          from ${instances}
          where ${live} and ${effectiveExpiry} >= bucket.starts and ${effectiveExpiry} < bucket.ends
          -- OFFSET 0 keeps the subquery a per-range index scan (flattened, it became one scan of the fleet).
          offset 0
        ) rows
        group by 1, 2, 3`,
  );
  // A row whose fingerprint is not its owner's: counted above as if it matched, it is `revoked`.
  const asCounted = keyHealthSql(now, { signingKeys, ownerFingerprint: sql`${instances.keyPepperFingerprint}` });
  const mismatched = and(
    live,
    isNull(instances.keyRevokedAt),
    sql`${instances.keyPepperFingerprint} <> ${ownerFingerprint}`,
    or(sql`${effectiveExpiry} is null`, sql`not ${inBoundaryBucket(b)}`),
  );
  // Reached from the owners to re-check (usually few or none) through instances_owner_idx.
  const correction = () => queryRows<HealthCell>(
    db,
    sql`with recheck as (select distinct owner_id from fleet_pepper_recheck),
        stale as (
          select ${instances.status} as status, ${asCounted} as health, ${daySql(now)} as day
          from recheck join ${instances} on ${instances.ownerId} = recheck.owner_id join ${users} on ${users.id} = ${instances.ownerId}
          where ${mismatched}
        )
        select status, health, day, (-count(*))::text as count from stale group by 1, 2, 3
        union all
        select status, 'revoked', null, count(*)::text from stale group by 1`,
  );
  // One after another: the caller may run them on one transaction's connection.
  return [...(await fromCounts()), ...(await boundary()), ...(await correction())];
}

/** Runs the queries one after another (the caller may hold one transaction's connection). */
async function sequence<T extends readonly (() => Promise<unknown>)[]>(queries: T): Promise<{ [K in keyof T]: Awaited<ReturnType<T[K]>> }> {
  const results: unknown[] = [];
  for (const query of queries) results.push(await query());
  return results as { [K in keyof T]: Awaited<ReturnType<T[K]>> };
}

/** Running instances by the secret their deployed key is signed under, from the counts. */
export async function runningSigners(db: Database, signingKeys: SigningKeyIds | null): Promise<Record<DeployedSigner, number>> {
  const rows = await queryRows<{ kid: string | null; n: string }>(
    db,
    sql`select deployed_key_signing_kid as kid, sum(n)::text as n from fleet_health_counts where status = 'running' group by 1 having sum(n) <> 0`,
  );
  const signers: Record<DeployedSigner, number> = { current: 0, previous: 0, retired: 0, unrecorded: 0 };
  for (const row of rows) {
    const signer: DeployedSigner = !signingKeys
      ? "current"
      : row.kid === null
        ? "unrecorded"
        : row.kid === signingKeys.current
          ? "current"
          : signingKeys.previous.includes(row.kid)
            ? "previous"
            : "retired";
    signers[signer] += Number(row.n);
  }
  return signers;
}

/**
 * Running instances whose refresh is overdue (refresh point or revocation more than the backoff
 * cap ago), and the earliest deployed-key expiry among running instances. A refresh point lies
 * between `lead` and `lead × (1 − jitter share)` before expiry, so keys expiring before the latter
 * are overdue whole buckets at a time; only the buckets in between, and revoked keys, are read.
 */
export async function runningFigures(db: Database, now: Date, thresholdHours: number): Promise<{ overdue: number; earliestExpiry: number | null }> {
  const overdueSince = new Date(now.getTime() - REFRESH_BACKOFF_CAP_MS);
  const leadMs = thresholdHours * 3_600_000;
  const surely = overdueSince.getTime() + leadMs * (1 - REFRESH_JITTER_SHARE);
  const firstUnsure = Math.floor(surely / 1000 / BUCKET_SECONDS);
  const pointPassed = sql`coalesce(${refreshPointSql(thresholdHours)} <= ${iso(overdueSince)}, false)`;
  const running = and(eq(instances.status, "running"), isNull(instances.destroyedAt));
  const [rows, window, revoked, earliest] = await sequence([
    () => queryRows<{ n: string | null }>(
      db,
      sql`select sum(n)::text as n from fleet_health_counts
          where status = 'running' and not deployed_expiry_null and expiry_bucket < ${firstUnsure}::bigint`,
    ),
    () => db
      .select({ n: sql<string>`count(*)::text` })
      .from(instances)
      .where(
        and(
          running,
          sql`${instances.deployedKeyExpiresAt} >= ${iso(new Date(firstUnsure * BUCKET_SECONDS * 1000))}`,
          sql`${instances.deployedKeyExpiresAt} <= ${iso(new Date(overdueSince.getTime() + leadMs))}`,
          pointPassed,
        ),
      ),
    () => db
      .select({ n: sql<string>`count(*)::text` })
      .from(instances)
      .where(and(running, sql`${instances.keyRevokedAt} <= ${iso(overdueSince)}`, sql`not ${pointPassed}`)),
    () => db
      .select({ at: sql<number | null>`extract(epoch from min(${instances.deployedKeyExpiresAt}))::float8` })
      .from(instances)
      .where(running),
  ] as const);
  const overdue = Number(rows[0]?.n ?? 0) + Number(window[0]?.n ?? 0) + Number(revoked[0]?.n ?? 0);
  const at = earliest[0]?.at;
  return { overdue, earliestExpiry: at === null || at === undefined ? null : Number(at) };
}

/**
 * Forgets the owners in fleet_pepper_recheck who have no live key left under a fingerprint other
 * than their current one, so the overview's correction visits only owners that may need it.
 * Safe alongside writers: every transaction that stores such a key (or changes a pepper) adds its
 * own row (migration 0008), and a row this statement cannot see yet is not deleted by it.
 */
export async function prunePepperRechecks(db: Database): Promise<number> {
  const rows = await queryRows<unknown>(
    db,
    sql`delete from fleet_pepper_recheck recheck where not exists (
          select 1 from ${instances} join ${users} on ${users.id} = ${instances.ownerId}
          where ${instances.ownerId} = recheck.owner_id and ${isNull(instances.destroyedAt)} and ${isNull(instances.keyRevokedAt)}
            and ${instances.keyPepperFingerprint} <> ${pepperFingerprintSql(users.apiTokenPepper)}
        ) returning 1`,
  );
  return rows.length;
}

/**
 * Folds the counts' log into one row per class when it has grown well past that (each write
 * appends a row or two). Safe alongside writers: it deletes and re-adds only the rows it saw.
 */
export async function compactHealthCounts(db: Database, options: { force?: boolean } = {}): Promise<void> {
  const fold = sql`with gone as (delete from fleet_health_counts returning *)
    insert into fleet_health_counts (status, revoked, key_signing_kid, deployed_key_signing_kid, undeployed, expiry_bucket, deployed_expiry_null, n)
    select status, revoked, key_signing_kid, deployed_key_signing_kid, undeployed, expiry_bucket, deployed_expiry_null, sum(n)
    from gone group by 1, 2, 3, 4, 5, 6, 7 having sum(n) <> 0`;
  if (options.force) {
    await db.execute(fold);
    return;
  }
  const [size] = await queryRows<{ rows: string; classes: string }>(
    db,
    sql`select count(*)::text as rows, (select count(*) from (select 1 from fleet_health_counts group by status, revoked, key_signing_kid, deployed_key_signing_kid, undeployed, expiry_bucket, deployed_expiry_null) g)::text as classes from fleet_health_counts`,
  );
  if (size && Number(size.rows) > 2 * Number(size.classes) + 10_000) await db.execute(fold);
}

import { and, eq, isNotNull, isNull, lte, ne, or, sql, type SQL } from "drizzle-orm";
import { instances, type InstanceRow } from "@/db/schema";

const HOUR_MS = 60 * 60 * 1000;

/** The longest a failed refresh waits before its next attempt (lib/instances/refresh.ts backs off up to it). */
export const REFRESH_BACKOFF_CAP_MS = HOUR_MS;

/** Refresh points are spread over this share of the threshold, so a fleet minted together does not refresh in one burst. */
export const REFRESH_JITTER_SHARE = 0.1;

/**
 * The instance's place in the spread, in [0, 1): the first 32 bits of its id. Deterministic, so
 * every replica (and the SQL twin, refreshJitterSql) agrees on it, and uniform over random uuids.
 */
export function refreshJitterOf(instanceId: string): number {
  return Number.parseInt(instanceId.replace(/-/g, "").slice(0, 8), 16) / 2 ** 32;
}

/**
 * When a running instance's deployed key is due for a proactive refresh: `thresholdHours` before
 * its expiry, moved later by up to 10 % of the threshold (refreshJitterOf). Pure; null when no
 * expiry is recorded (such a key is due at once).
 */
export function refreshPointOf(row: Pick<InstanceRow, "id" | "deployedKeyExpiresAt">, thresholdHours: number): Date | null {
  if (!row.deployedKeyExpiresAt) return null;
  const leadMs = thresholdHours * HOUR_MS * (1 - REFRESH_JITTER_SHARE * refreshJitterOf(row.id));
  return new Date(row.deployedKeyExpiresAt.getTime() - leadMs);
}

/** SQL twin of refreshJitterOf over instances.id; refresh.test.ts proves they agree. */
function refreshJitterSql(): SQL {
  return sql`(('x' || left(replace(${instances.id}::text, '-', ''), 8))::bit(32)::bigint / 4294967296.0)`;
}

/** SQL twin of refreshPointOf. */
export function refreshPointSql(thresholdHours: number): SQL<Date> {
  const leadSeconds = thresholdHours * 3600;
  return sql<Date>`(${instances.deployedKeyExpiresAt} - make_interval(secs => ${leadSeconds}::float8 * (1 - ${REFRESH_JITTER_SHARE}::float8 * ${refreshJitterSql()})))`;
}

export interface DueForRefreshInput {
  now: Date;
  thresholdHours: number;
  /** The key ring's current `kid`: a deployed key under any other secret (or none recorded) is due. */
  currentKid: string;
  /** Only this owner's instances (a pepper rotation re-keying them at once). */
  ownerId?: string;
}

/**
 * Running instances whose deployed key must be replaced: past its refresh point, revoked by a
 * pepper rotation, not the latest minted one, or signed under a secret other than the current one.
 * Instances whose last refresh failed wait for their backoff.
 */
export function dueForRefresh({ now, thresholdHours, currentKid, ownerId }: DueForRefreshInput): SQL | undefined {
  // The refresh point is at most `thresholdHours` before expiry: a plain bound the partial index can serve.
  const horizon = new Date(now.getTime() + thresholdHours * HOUR_MS);
  return and(
    eq(instances.status, "running"),
    isNotNull(instances.machineId),
    ownerId ? eq(instances.ownerId, ownerId) : undefined,
    or(isNull(instances.nextRefreshAttemptAt), lte(instances.nextRefreshAttemptAt, now)),
    or(
      isNull(instances.deployedKeyExpiresAt),
      and(lte(instances.deployedKeyExpiresAt, horizon), lte(refreshPointSql(thresholdHours), sql`${now.toISOString()}::timestamptz`)),
      isNotNull(instances.keyRevokedAt),
      isNull(instances.deployedKeyId),
      ne(instances.deployedKeyId, instances.keyId),
      isNull(instances.deployedKeySigningKid),
      ne(instances.deployedKeySigningKid, currentKid),
    ),
  );
}

/** Re-keying off a retiring secret (or a revocation) goes before expiry-based refreshes. */
export function refreshOrder(currentKid: string): SQL[] {
  return [
    sql`(${instances.keyRevokedAt} is null and ${instances.deployedKeySigningKid} is not distinct from ${currentKid}) asc`,
    sql`${instances.deployedKeyExpiresAt} asc nulls first`,
  ];
}

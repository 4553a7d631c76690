import "server-only";
import { and, eq, gt, inArray, isNotNull, isNull, lte, or, sql, type SQL } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import { instances, users } from "@/db/schema";
import { CRITICAL_WITHIN_MS, EXPIRING_WITHIN_MS } from "@/lib/instances/key-health";
import type { KeyHealth } from "@/lib/instances/schemas";
import { configuredSigningKeyIds } from "@/lib/tokens/configured";
import { keyHealthSql } from "./key-health-sql";
import type { FleetFilter } from "./schemas";

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
export function fleetFilterWhere(filter: FleetFilter, now: Date, options: { deployedNull?: boolean } = {}): SQL | false | undefined {
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

import "server-only";
import { sql, type SQL } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import { instances, users } from "@/db/schema";
import { CRITICAL_WITHIN_MS, EXPIRING_WITHIN_MS } from "@/lib/instances/key-health";
import type { KeyHealth } from "@/lib/instances/schemas";
import { configuredSigningKeyIds } from "@/lib/tokens/configured";
import type { SigningKeyIds } from "@/lib/tokens/key-ring";

/** A timestamp as an SQL literal of type timestamptz. */
export const iso = (date: Date) => sql`${date.toISOString()}::timestamptz`;

/** The active key's expiry: the deployed key's, else the latest minted one's. */
export const effectiveExpiry = sql`coalesce(${instances.deployedKeyExpiresAt}, ${instances.keyExpiresAt})`;

/** SQL twin of pepperFingerprint() (lib/keys/fingerprints.ts) over any pepper expression; overview.test.ts proves they agree (through keyHealthSql). */
export function pepperFingerprintSql(pepper: SQL | PgColumn): SQL {
  return sql`('pf_' || left(encode(sha256(convert_to('fleetdeck-pepper:' || ${pepper}, 'UTF8')), 'hex'), 12))`;
}

export interface KeyHealthSqlOptions {
  /** Where the owner's current pepper fingerprint comes from; by default `users` joined as the owner. */
  ownerFingerprint?: SQL;
  /** The key ring's `kid`s (this process's ring by default; null: no ring, keys not judged by signer). */
  signingKeys?: SigningKeyIds | null;
}

/** `column` is one of `values` (false for none), as SQL. */
export function inList(column: PgColumn | SQL, values: readonly string[]): SQL {
  return values.length ? sql`${column} in (${sql.join(values.map((value) => sql`${value}`), sql`, `)})` : sql`false`;
}

/** SQL twin of signingKeyStatus(…) === "retired" for the latest key's `kid`. */
function signedUnderRetiredSecret(signingKeys: SigningKeyIds | null): SQL {
  if (!signingKeys) return sql`false`;
  return sql`(${instances.keySigningKid} is not null and ${instances.keySigningKid} <> ${signingKeys.current} and not ${inList(instances.keySigningKid, signingKeys.previous)})`;
}

/**
 * SQL twin of computeKeyHealth() (lib/instances/key-health.ts), same precedence, so the fleet can be
 * filtered and counted by health in the database. overview.test.ts checks it against the function on
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

/**
 * Instances for the admin e2e suite (e2e/admin.spec.ts), seeded by e2e/start-server.ts before the
 * server starts (the server's PGlite cannot be written from the test process). They belong to two
 * users of their own, who cannot sign in, so the other suites' accounts keep their dashboards.
 * Every instance is stopped with no machine and a key of a chosen health; a redeploy from the admin
 * views then creates a real local machine and mints a real key.
 */
import { randomBytes } from "node:crypto";
import type { Database } from "@/db";
import { instances, type NewInstanceRow } from "@/db/schema";
import { pepperFingerprint } from "@/lib/keys/fingerprints";
import { upsertUser } from "@/lib/users/users";

export const adminFixtureOwners = {
  fiona: { email: "fiona.fleet@e2e.fleetdeck.test", name: "Fiona Fleet" },
  gus: { email: "gus.gateway@e2e.fleetdeck.test", name: "Gus Gateway" },
} as const;

const DAY = 24 * 3600 * 1000;

/** Instance names by what the admin suite does with them. */
export const adminFixtureInstances = {
  /** Critical (2 days left): found by the critical filter, opened and redeployed from its page. */
  critical: "fiona-critical",
  /** Redeployed together from a selection. */
  bulk: ["fiona-bulk-1", "fiona-bulk-2", "fiona-bulk-3"],
  /** Expired: redeployed by "Redeploy all matching" with the expired filter and Gus's email. */
  expired: ["gus-expired-1", "gus-expired-2"],
} as const;

function key(expiresInMs: number, pepper: string, now: number): Partial<NewInstanceRow> {
  const keyId = `key_${randomBytes(6).toString("hex")}`;
  const expiresAt = new Date(now + expiresInMs);
  return {
    keyId,
    deployedKeyId: keyId,
    keyExpiresAt: expiresAt,
    deployedKeyExpiresAt: expiresAt,
    keyMintedAt: new Date(expiresAt.getTime() - 30 * DAY),
    deployedAt: new Date(expiresAt.getTime() - 30 * DAY),
    keySource: "minted",
    keyPepperFingerprint: pepperFingerprint(pepper),
  };
}

/** Seeds the admin suite's owners and instances. Safe to repeat only on a fresh database. */
export async function seedAdminFixtures(db: Database, now = Date.now()): Promise<void> {
  const { user: fiona } = await upsertUser(db, adminFixtureOwners.fiona);
  const { user: gus } = await upsertUser(db, adminFixtureOwners.gus);
  const rows: [string, typeof fiona, Partial<NewInstanceRow>][] = [
    [adminFixtureInstances.critical, fiona, key(2 * DAY, fiona.apiTokenPepper, now)],
    [adminFixtureInstances.bulk[0], fiona, key(1.5 * DAY, fiona.apiTokenPepper, now)],
    [adminFixtureInstances.bulk[1], fiona, key(5 * DAY, fiona.apiTokenPepper, now)],
    [adminFixtureInstances.bulk[2], fiona, key(12 * DAY, fiona.apiTokenPepper, now)],
    ["fiona-revoked", fiona, { ...key(20 * DAY, fiona.apiTokenPepper, now), keyRevokedAt: new Date(now - DAY) }],
    ["fiona-never-started", fiona, { status: "provisioned" }],
    [adminFixtureInstances.expired[0], gus, key(-DAY, gus.apiTokenPepper, now)],
    [adminFixtureInstances.expired[1], gus, key(-3 * DAY, gus.apiTokenPepper, now)],
    ["gus-healthy", gus, key(25 * DAY, gus.apiTokenPepper, now)],
  ];
  await db.insert(instances).values(
    rows.map(([name, owner, values], index) => ({
      ownerId: owner.id,
      name,
      provider: "local" as const,
      region: "local",
      imageTag: "latest",
      status: "stopped" as const,
      lastActivityAt: new Date(now - (index + 1) * 3600 * 1000),
      ...values,
    })),
  );
}

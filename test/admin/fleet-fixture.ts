/**
 * The admin fleet suites' shared fleet: every combination of the fields computeKeyHealth reads, for
 * two owners, across the live statuses, plus one destroyed instance, with the expected health of
 * each row from the pure function. Importing this module sets this process's key ring.
 */
import { instances, users, type InstanceRow, type NewInstanceRow, type UserRow } from "@/db/schema";
import type { Database } from "@/db";
import { resetEnvForTests } from "@/shared/env";
import { listFleetInstances, type FleetInstanceDto } from "@/lib/admin/fleet-page";
import { fleetQuerySchema, instanceStatusValues, type FleetQuery } from "@/lib/admin/schemas";
import { computeKeyHealth } from "@/lib/instances/key-health";
import type { KeyHealth } from "@/lib/instances/schemas";
import { pepperFingerprint } from "@/lib/keys/fingerprints";
import { keyRingIds, signingKeyIdOf } from "@/lib/tokens/key-ring";

// The key ring the SQL twin and computeKeyHealth judge stored kids against (this process's ring).
const CURRENT_SECRET = "fleet-test-current-".padEnd(48, "c");
const PREVIOUS_SECRET = "fleet-test-previous-".padEnd(48, "p");
process.env.NEXTAUTH_SECRET = CURRENT_SECRET;
process.env.NEXTAUTH_SECRET_PREVIOUS = PREVIOUS_SECRET;
resetEnvForTests();
export const SIGNING_KEYS = keyRingIds({ current: CURRENT_SECRET, previous: [PREVIOUS_SECRET] });
const KIDS = [null, SIGNING_KEYS.current, SIGNING_KEYS.previous[0]!, signingKeyIdOf("a-retired-secret-".padEnd(48, "r"))];

export const DAY = 24 * 3600 * 1000;
export const NOW = new Date("2031-03-01T12:00:00.000Z");
export const at = (ms: number) => new Date(NOW.getTime() + ms);
export const query = (input: Record<string, unknown> = {}): FleetQuery => fleetQuerySchema.parse(input);

export interface LiveRow {
  id: string;
  ownerId: string;
  health: KeyHealth;
  status: string;
}

/**
 * Every combination of the fields computeKeyHealth reads, boundaries included; the signing kid
 * (none, current, previous, retired) rotates through the combinations rather than multiplying them.
 */
export function healthCombinations(owner: UserRow): Partial<NewInstanceRow>[] {
  const current = pepperFingerprint(owner.apiTokenPepper);
  const rows: Partial<NewInstanceRow>[] = [];
  for (const keyRevokedAt of [null, at(-DAY)])
    for (const keyPepperFingerprint of [null, current, "pf_stale0000000"])
      for (const [keyId, deployedKeyId] of [[null, null], ["key_a", "key_a"], ["key_a", null], ["key_a", "key_b"], [null, "key_b"]])
        for (const keyExpiresAt of [null, at(-DAY), at(3 * DAY), at(20 * DAY)])
          for (const deployedKeyExpiresAt of [null, at(0), at(-1), at(1), at(3 * DAY), at(3 * DAY + 1), at(7 * DAY), at(7 * DAY + 1), at(30 * DAY)])
            rows.push({
              keyRevokedAt,
              keyPepperFingerprint,
              keyId,
              deployedKeyId,
              keyExpiresAt,
              deployedKeyExpiresAt,
              keySigningKid: KIDS[rows.length % KIDS.length],
              deployedKeySigningKid: KIDS[(rows.length + 1) % KIDS.length],
            });
  return rows;
}

/** Inserts the combination fleet; returns its owners and each live row with its expected health at NOW. */
export async function seedHealthMatrix(db: Database): Promise<{ owners: UserRow[]; live: LiveRow[] }> {
  const owners = await db
    .insert(users)
    .values([{ email: "a@fleet.test" }, { email: "b@fleet.test" }])
    .returning();
  const statuses = instanceStatusValues.filter((status) => status !== "destroyed");
  const values = owners.flatMap((owner, ownerIndex) =>
    healthCombinations(owner).map((combination, index) => ({
      ownerId: owner.id,
      name: `i${ownerIndex}-${index}`,
      provider: "local" as const,
      region: "local",
      imageTag: "latest",
      status: statuses[index % statuses.length]!,
      // Coarse values, so the sorts meet plenty of ties.
      lastActivityAt: at(-(index % 5) * 1000),
      ...combination,
    })),
  );
  for (let start = 0; start < values.length; start += 500) await db.insert(instances).values(values.slice(start, start + 500));
  await db.insert(instances).values({
    ownerId: owners[0]!.id,
    name: "destroyed",
    provider: "local",
    region: "local",
    imageTag: "latest",
    status: "destroyed",
    destroyedAt: at(-DAY),
  });
  const rows = await db.select().from(instances);
  const fingerprints = new Map(owners.map((owner) => [owner.id, pepperFingerprint(owner.apiTokenPepper)]));
  const live = rows
    .filter((row) => !row.destroyedAt)
    .map((row) => ({ id: row.id, ownerId: row.ownerId, status: row.status, health: computeKeyHealth(row, fingerprints.get(row.ownerId)!, NOW, SIGNING_KEYS) }));
  return { owners, live };
}

/** Every page of a fleet query, walked forward with nextCursor. */
export async function walkFleet(db: Database, input: Record<string, unknown>): Promise<FleetInstanceDto[]> {
  const seen: FleetInstanceDto[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 1000; pages++) {
    const page = await listFleetInstances(db, query({ ...input, cursor }), NOW);
    seen.push(...page.instances);
    if (!page.nextCursor) return seen;
    cursor = page.nextCursor;
  }
  throw new Error("pagination did not end");
}

/** Four users whose emails put LIKE's metacharacters to the test in owner search; the last is an admin. */
export function seedSearchUsers(db: Database): Promise<UserRow[]> {
  return db
    .insert(users)
    .values([
      { email: "ab%c@search.test" },
      { email: "abxc@search.test" },
      { email: "a_b@search.test" },
      { email: "zed@search.test", role: "admin", name: "Zed Admin" },
    ])
    .returning();
}

/** seedSearchUsers, and an instance for each of the first three (so owner search has rows to find). */
export async function seedSearchFleet(db: Database): Promise<{ users: UserRow[]; instances: InstanceRow[] }> {
  const created = await seedSearchUsers(db);
  const rows = await db
    .insert(instances)
    .values(created.slice(0, 3).map((user, index) => ({ ownerId: user.id, name: `s${index}`, provider: "local" as const, region: "local", imageTag: "latest" })))
    .returning();
  return { users: created, instances: rows };
}

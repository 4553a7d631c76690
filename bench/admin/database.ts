/** The admin benchmark's throwaway database: created next to TEST_DATABASE_URL's, seeded, dropped. */
import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import pg from "pg";
import { openDatabase, queryRows } from "@/db/client";
import { applyMigrations } from "@/db/migrate";
import { users } from "@/db/schema";
import { hashPassword } from "@/lib/auth/password";
import { seedFleet } from "@/lib/demo/seed-fleet";
import type { SigningKeyIds } from "@/lib/tokens/key-ring";

export interface BenchDatabase {
  url: string;
  name: string;
  adminPassword: string;
  sampleEmail: string;
  /** How long seedFleet took (seconds), as `npm run seed:fleet` would. */
  seedSeconds: number;
}

export async function createDatabase(serverUrl: string, count: number, signingKeys: SigningKeyIds): Promise<BenchDatabase> {
  const name = `fleetdeck_bench_admin_${randomBytes(5).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;

  // Seeding and vacuuming a million rows runs longer than the app's per-statement limits.
  const handle = await openDatabase({ url: url.toString(), driver: "postgres", timeouts: { statementMs: 0, queryMs: 0 } });
  try {
    await applyMigrations(handle);
    const started = performance.now();
    await seedFleet(handle.db, { count, seed: 0.42, signingKeys });
    const seedSeconds = (performance.now() - started) / 1000;
    const adminPassword = `bench-${randomBytes(12).toString("hex")}`;
    await handle.db.insert(users).values({ email: "bench-admin@fleetdeck.test", name: "Bench Admin", role: "admin", passwordHash: await hashPassword(adminPassword) });
    // Settle the heap (hint bits, visibility map) and the statistics, as a live database would be.
    await handle.db.execute(sql`vacuum analyze`);
    // An owner to search for by email prefix.
    const rows = await queryRows<{ email: string }>(handle.db, sql`select email from users where email like 'fleet-%' order by email limit 1 offset 1234`);
    return { url: url.toString(), name, adminPassword, sampleEmail: rows[0]!.email, seedSeconds };
  } finally {
    await handle.close();
  }
}

export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${name} with (force)`);
  } finally {
    await admin.end();
  }
}

import { randomBytes } from "node:crypto";
import pg from "pg";
import { openDatabase, type DatabaseDriver, type DatabaseHandle } from "@/db/client";
import { applyMigrations } from "@/db/migrate";
import { startNeonBridge } from "./neon-bridge";

export interface TestDatabase extends DatabaseHandle {
  /** Connection string of the throwaway database (undefined for in-memory PGlite). */
  url?: string;
}

/**
 * The drivers every database suite runs on: in-memory PGlite always; node-postgres and the
 * Neon driver (through a loopback WebSocket bridge) when TEST_DATABASE_URL names a server.
 */
export function testDrivers(): DatabaseDriver[] {
  return process.env.TEST_DATABASE_URL ? ["pglite", "postgres", "neon"] : ["pglite"];
}

/** The drivers backed by a real PostgreSQL server, for tests that need locks or pg_stat_activity. */
export function realPostgresDrivers(): DatabaseDriver[] {
  return process.env.TEST_DATABASE_URL ? ["postgres"] : [];
}

/**
 * A fresh, migrated database for one suite. On a real server it is a new database created
 * on `serverUrl` (default TEST_DATABASE_URL) and dropped on close, so suites never see each other's rows.
 */
export async function createTestDatabase(driver: DatabaseDriver = "pglite", serverUrl = process.env.TEST_DATABASE_URL): Promise<TestDatabase> {
  if (driver === "pglite") {
    const handle = await openDatabase({ pgliteDir: "memory://" });
    await applyMigrations(handle);
    return handle;
  }
  if (!serverUrl) throw new Error(`TEST_DATABASE_URL is required for the ${driver} driver`);
  const name = `fleetdeck_test_${randomBytes(6).toString("hex")}`;
  await withAdminClient(serverUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;

  const bridge = driver === "neon" ? await startNeonBridge() : undefined;
  const handle = await openDatabase({ url: url.toString(), driver, neonWsProxy: bridge?.wsProxy });
  await applyMigrations(handle);
  return {
    ...handle,
    url: url.toString(),
    async close() {
      await handle.close();
      await bridge?.close();
      await withAdminClient(serverUrl, (client) =>
        client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
      );
    },
  };
}

async function withAdminClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

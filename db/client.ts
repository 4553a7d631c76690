import { chmodSync, mkdirSync } from "node:fs";
import path from "node:path";
import type { SQL } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import * as schema from "./schema";

export type Schema = typeof schema;
/** The driver-independent drizzle handle every lib function takes. */
export type Database = PgDatabase<PgQueryResultHKT, Schema>;
export type DatabaseDriver = "pglite" | "postgres" | "neon";

export interface DatabaseHandle {
  db: Database;
  driver: DatabaseDriver;
  /**
   * Subscribes to a Postgres NOTIFY channel on a dedicated connection (pepper-cache
   * invalidation across replicas). Resolves to an unsubscribe function.
   */
  listen(channel: string, onPayload: (payload: string) => void, onLost?: () => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** `postgres://…` for node-postgres, a Neon URL for the serverless driver; empty for PGlite. */
  url?: string;
  /** Forces the driver: `neon` for a Neon URL on a custom host (or a local bridge in tests). */
  driver?: DatabaseDriver;
  /** PGlite data directory; `memory://` keeps everything in memory (unit tests). */
  pgliteDir?: string;
  /** Neon only: maps host:port to the WebSocket address to dial (tests' loopback bridge). */
  neonWsProxy?: (host: string, port: number | string) => string;
}

export const DEFAULT_PGLITE_DIR = path.join(process.cwd(), ".data", "pglite");

/** Which driver a URL selects: Neon for `*.neon.tech` hosts (or when forced), else node-postgres. */
export function selectDriver(url: string | undefined, forced?: DatabaseDriver): DatabaseDriver {
  if (forced) return forced;
  if (!url) return "pglite";
  const host = safeHostname(url);
  return host?.endsWith(".neon.tech") ? "neon" : "postgres";
}

function safeHostname(url: string): string | undefined {
  try {
    return new URL(url).hostname;
  } catch {
    return undefined;
  }
}

/** Opens a database with the driver the options select. Does not apply migrations. */
export async function openDatabase(options: DatabaseOptions = {}): Promise<DatabaseHandle> {
  const driver = selectDriver(options.url, options.driver);
  if (driver === "pglite") return openPglite(options.pgliteDir ?? DEFAULT_PGLITE_DIR);
  if (!options.url) throw new Error(`The ${driver} driver needs a DATABASE_URL.`);
  return driver === "neon" ? openNeon(options.url, options.neonWsProxy) : openPostgres(options.url);
}

async function openPglite(dataDir: string): Promise<DatabaseHandle> {
  const { PGlite } = await import("@electric-sql/pglite");
  const { drizzle } = await import("drizzle-orm/pglite");
  const inMemory = dataDir.startsWith("memory://");
  // PGlite does not create parent directories itself. The database holds password hashes and
  // encrypted keys: the directory is this user's only (`.data/` of an older version is tightened).
  if (!inMemory) {
    mkdirSync(path.dirname(dataDir), { recursive: true, mode: 0o700 });
    if (path.dirname(dataDir) === path.dirname(DEFAULT_PGLITE_DIR)) chmodSync(path.dirname(dataDir), 0o700);
  }
  const client = new PGlite(inMemory ? undefined : dataDir);
  await client.waitReady;
  const db = drizzle({ client, schema }) as unknown as Database;
  return {
    db,
    driver: "pglite",
    // An embedded database has no connection to lose, so `onLost` never fires.
    async listen(channel, onPayload) {
      const unlisten = await client.listen(channel, onPayload);
      return async () => unlisten();
    },
    close: () => client.close(),
  };
}

async function openPostgres(url: string): Promise<DatabaseHandle> {
  const pg = (await import("pg")).default;
  const { drizzle } = await import("drizzle-orm/node-postgres");
  const pool = new pg.Pool({ connectionString: url, max: 10, idleTimeoutMillis: 30_000 });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on("error", () => {});
  const db = drizzle({ client: pool, schema }) as unknown as Database;
  return {
    db,
    driver: "postgres",
    listen: (channel, onPayload, onLost) => listenOn(new pg.Client({ connectionString: url }), channel, onPayload, onLost),
    close: () => pool.end(),
  };
}

async function openNeon(
  url: string,
  wsProxy: DatabaseOptions["neonWsProxy"],
): Promise<DatabaseHandle> {
  const neon = await import("@neondatabase/serverless");
  const { default: WebSocket } = await import("ws");
  const { drizzle } = await import("drizzle-orm/neon-serverless");
  neon.neonConfig.webSocketConstructor = WebSocket;
  if (wsProxy) {
    // A plain loopback bridge (tests) speaks neither TLS nor pipelined start-up.
    neon.neonConfig.wsProxy = wsProxy;
    neon.neonConfig.useSecureWebSocket = false;
    neon.neonConfig.pipelineTLS = false;
    neon.neonConfig.pipelineConnect = false;
  }
  const pool = new neon.Pool({ connectionString: url, max: 10 });
  pool.on("error", () => {});
  const db = drizzle({ client: pool, schema }) as unknown as Database;
  return {
    db,
    driver: "neon",
    listen: (channel, onPayload, onLost) => listenOn(new neon.Client({ connectionString: url }), channel, onPayload, onLost),
    close: () => pool.end(),
  };
}

/** The part of node-postgres' Client (and Neon's, which mirrors it) that LISTEN needs. */
interface ListenClient {
  connect(): Promise<unknown>;
  query(text: string): Promise<unknown>;
  end(): Promise<void>;
  on(event: "error", listener: (error: Error) => void): unknown;
  on(event: "end", listener: () => void): unknown;
  on(event: "notification", listener: (message: { channel: string; payload?: string }) => void): unknown;
}

/**
 * LISTEN on a dedicated connection (a pooled one would be handed to other queries). When that
 * connection fails or closes without being asked to, `onLost` is called once: notifications may
 * have been missed, so the subscriber must stop trusting what it cached and subscribe again.
 */
async function listenOn(
  client: ListenClient,
  channel: string,
  onPayload: (payload: string) => void,
  onLost?: () => void,
): Promise<() => Promise<void>> {
  let closing = false;
  let lost = false;
  const markLost = () => {
    if (closing || lost) return;
    lost = true;
    onLost?.();
  };
  client.on("error", markLost);
  client.on("end", markLost);
  await client.connect();
  client.on("notification", (message) => {
    if (message.channel === channel) onPayload(message.payload ?? "");
  });
  await client.query(`LISTEN ${quoteIdentifier(channel)}`);
  return async () => {
    closing = true;
    await client.end().catch(() => {});
  };
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Runs raw SQL and returns its rows. Every driver answers `{ rows }`, but the driver-independent
 * handle types the result as unknown; this is the one place that knows.
 */
export async function queryRows<Row>(db: Database, query: SQL): Promise<Row[]> {
  const result = (await db.execute(query)) as unknown as { rows: Row[] };
  return result.rows;
}

import "server-only";
import { chmodSync, mkdirSync } from "node:fs";
import path from "node:path";
import type { SQL } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { observedClientClass, observedPoolClass } from "./observed-connections";
import { ResilientListener, type ListenClient, type ListenEvents, type ListenOptions } from "./listen";
import * as schema from "./schema";

export type Schema = typeof schema;
/** The driver-independent drizzle handle every lib function takes. */
export type Database = PgDatabase<PgQueryResultHKT, Schema>;
export type DatabaseDriver = "pglite" | "postgres" | "neon";

export interface DatabaseHandle {
  db: Database;
  driver: DatabaseDriver;
  /**
   * Subscribes to a Postgres NOTIFY channel on a dedicated, direct connection (key-cache
   * invalidation across replicas). Resolves to an unsubscribe function once the first attempt has
   * gone live or failed; it never rejects and keeps exactly one connection, reconnecting with
   * capped backoff after every loss and proving itself with periodic self-notifications.
   * `onLost` / `onLive` tell the subscriber when notifications may have been missed and when they
   * can be trusted again.
   */
  listen(channel: string, onPayload: (payload: string) => void, events?: ListenEvents): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** `postgres://…` for node-postgres, a Neon URL for the serverless driver; empty for PGlite. */
  url?: string;
  /**
   * The direct (unpooled) URL LISTEN connects to (`DATABASE_URL_UNPOOLED`). Defaults to `url`
   * with `-pooler` dropped from a Neon pooled host: PgBouncer in transaction mode accepts LISTEN
   * but never delivers notifications.
   */
  listenUrl?: string;
  /** Forces the driver: `neon` for a Neon URL on a custom host (or a local bridge in tests). */
  driver?: DatabaseDriver;
  /** PGlite data directory; `memory://` keeps everything in memory (unit tests). */
  pgliteDir?: string;
  /** Neon only: maps host:port to the WebSocket address to dial (tests' loopback bridge). */
  neonWsProxy?: (host: string, port: number | string) => string;
  /** Pool, session and LISTEN timings; tests shorten them. */
  timeouts?: Partial<DatabaseTimeouts>;
  /** Where the LISTEN subscription reports trouble (a connection that stopped receiving). */
  onWarning?: (message: string, details: Record<string, unknown>) => void;
}

export interface DatabaseTimeouts {
  /** Opening a connection (and waiting for a free pooled one). */
  connectMs: number;
  /** Server-side `statement_timeout` for every pooled session (direct connections only); 0 = none. */
  statementMs: number;
  /** Server-side `idle_in_transaction_session_timeout`: a transaction left open by a stuck caller ends. */
  idleInTransactionMs: number;
  /**
   * Client-side: a query without any answer this long means the server or the network is gone;
   * its connection is closed (not reused) and the query fails as a lost connection. 0 = none.
   */
  queryMs: number;
  /** TCP keepalive on every connection, first probe after this much idle time. */
  keepAliveInitialDelayMs: number;
  /** How often the LISTEN connection proves it still receives (a notification to itself). */
  listenHeartbeatMs: number;
  /** How long that proof may take. */
  listenHeartbeatTimeoutMs: number;
  /** LISTEN reconnect backoff: doubling from the first value, capped at the second. */
  listenMinBackoffMs: number;
  listenMaxBackoffMs: number;
}

export const DEFAULT_DATABASE_TIMEOUTS: DatabaseTimeouts = {
  connectMs: 5_000,
  statementMs: 30_000,
  idleInTransactionMs: 15_000,
  queryMs: 35_000,
  keepAliveInitialDelayMs: 10_000,
  listenHeartbeatMs: 15_000,
  listenHeartbeatTimeoutMs: 5_000,
  listenMinBackoffMs: 250,
  listenMaxBackoffMs: 5_000,
};

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

/** A Neon pooled endpoint (`ep-…-pooler.region.aws.neon.tech`): PgBouncer in transaction mode. */
export function isPoolerUrl(url: string): boolean {
  const firstLabel = safeHostname(url)?.split(".")[0] ?? "";
  return firstLabel.endsWith("-pooler");
}

/**
 * The direct connection for a URL: Neon's convention is the pooled host without `-pooler`. Any
 * other URL is returned unchanged.
 */
export function directUrlFor(url: string): string {
  if (!isPoolerUrl(url)) return url;
  const parsed = new URL(url);
  const [first, ...rest] = parsed.hostname.split(".");
  parsed.hostname = [first!.slice(0, -"-pooler".length), ...rest].join(".");
  return parsed.toString();
}

/** Opens a database with the driver the options select. Does not apply migrations. */
export async function openDatabase(options: DatabaseOptions = {}): Promise<DatabaseHandle> {
  const driver = selectDriver(options.url, options.driver);
  if (driver === "pglite") return openPglite(options.pgliteDir ?? DEFAULT_PGLITE_DIR);
  if (!options.url) throw new Error(`The ${driver} driver needs a DATABASE_URL.`);
  const settings: ServerSettings = {
    url: options.url,
    listenUrl: options.listenUrl ?? directUrlFor(options.url),
    timeouts: { ...DEFAULT_DATABASE_TIMEOUTS, ...options.timeouts },
    onWarning: options.onWarning,
  };
  return driver === "neon" ? openNeon(settings, options.neonWsProxy) : openPostgres(settings);
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
    // An embedded database has no connection to lose: live at once, never lost.
    async listen(channel, onPayload, events) {
      const unlisten = await client.listen(channel, onPayload);
      events?.onLive?.();
      return async () => unlisten();
    },
    close: () => client.close(),
  };
}

interface ServerSettings {
  url: string;
  listenUrl: string;
  timeouts: DatabaseTimeouts;
  onWarning?: DatabaseOptions["onWarning"];
}

/** Connection options both server drivers take (Neon's Pool and Client are node-postgres'). */
function connectionConfig(url: string, timeouts: DatabaseTimeouts) {
  return {
    connectionString: url,
    connectionTimeoutMillis: timeouts.connectMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: timeouts.keepAliveInitialDelayMs,
    // Sent as start-up parameters, which PgBouncer (a -pooler host) refuses: there the client-side
    // query timeout has to do.
    ...(isPoolerUrl(url) ? {} : { statement_timeout: timeouts.statementMs, idle_in_transaction_session_timeout: timeouts.idleInTransactionMs }),
  };
}

async function openPostgres({ url, listenUrl, timeouts, onWarning }: ServerSettings): Promise<DatabaseHandle> {
  const pg = (await import("pg")).default;
  const { drizzle } = await import("drizzle-orm/node-postgres");
  const Client = observedClientClass(pg.Client, timeouts.queryMs);
  const Pool = observedPoolClass(pg.Pool);
  const pool = new Pool({ ...connectionConfig(url, timeouts), Client, max: 10, idleTimeoutMillis: 30_000 });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on("error", () => {});
  const db = drizzle({ client: pool, schema }) as unknown as Database;
  return {
    db,
    driver: "postgres",
    listen: (channel, onPayload, events) =>
      listenResiliently(channel, onPayload, events, timeouts, onWarning, {
        newClient: () => new Client(connectionConfig(listenUrl, timeouts)) as unknown as ListenClient,
        notify: async (target, payload) => void (await pool.query("select pg_notify($1, $2)", [target, payload])),
      }),
    close: () => pool.end(),
  };
}

async function openNeon({ url, listenUrl, timeouts, onWarning }: ServerSettings, wsProxy: DatabaseOptions["neonWsProxy"]): Promise<DatabaseHandle> {
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
  const Client = observedClientClass(neon.Client, timeouts.queryMs);
  const Pool = observedPoolClass(neon.Pool);
  const pool = new Pool({ ...connectionConfig(url, timeouts), Client, max: 10 });
  pool.on("error", () => {});
  const db = drizzle({ client: pool, schema }) as unknown as Database;
  return {
    db,
    driver: "neon",
    listen: (channel, onPayload, events) =>
      listenResiliently(channel, onPayload, events, timeouts, onWarning, {
        newClient: () => new Client(connectionConfig(listenUrl, timeouts)) as unknown as ListenClient,
        notify: async (target, payload) => void (await pool.query("select pg_notify($1, $2)", [target, payload])),
      }),
    close: () => pool.end(),
  };
}

async function listenResiliently(
  channel: string,
  onPayload: (payload: string) => void,
  events: ListenEvents | undefined,
  timeouts: DatabaseTimeouts,
  onWarning: DatabaseOptions["onWarning"],
  connection: Pick<ListenOptions, "newClient" | "notify">,
): Promise<() => Promise<void>> {
  const listener = new ResilientListener(channel, onPayload, events ?? {}, {
    ...connection,
    heartbeatMs: timeouts.listenHeartbeatMs,
    heartbeatTimeoutMs: timeouts.listenHeartbeatTimeoutMs,
    minBackoffMs: timeouts.listenMinBackoffMs,
    maxBackoffMs: timeouts.listenMaxBackoffMs,
    onWarning,
  });
  await listener.start();
  return () => listener.close();
}

// ---------------------------------------------------------------------------------------------
// Driver classes that know when a connection is gone

/**
 * Runs raw SQL and returns its rows. Every driver answers `{ rows }`, but the driver-independent
 * handle types the result as unknown; this is the one place that knows.
 */
export async function queryRows<Row>(db: Database, query: SQL): Promise<Row[]> {
  const result = (await db.execute(query)) as unknown as { rows: Row[] };
  return result.rows;
}

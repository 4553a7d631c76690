import pg from "pg";
import { openDatabase, type DatabaseDriver, type DatabaseHandle, type DatabaseTimeouts } from "@/db/client";
import { createTestDatabase, type TestDatabase } from "./index";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy";

/**
 * A fresh database reached through a TCP proxy a test can freeze (a network that stops answering),
 * plus a direct admin connection to watch its backends (`pg_stat_activity` by `applicationName`).
 */
export interface DatabaseBehindProxy {
  database: TestDatabase;
  proxy: TcpProxy;
  /** The app's handle, through the proxy. */
  handle: DatabaseHandle;
  /** A direct connection, unaffected by the proxy. */
  admin: pg.Client;
  /** How many of the handle's connections the server sees. */
  backends(): Promise<number>;
  close(): Promise<void>;
}

export async function openDatabaseBehindProxy(
  driver: DatabaseDriver,
  options: { applicationName: string; timeouts?: Partial<DatabaseTimeouts> },
): Promise<DatabaseBehindProxy> {
  const database = await createTestDatabase(driver);
  const target = new URL(database.url!);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const through = new URL(database.url!);
  through.host = `127.0.0.1:${proxy.port}`;
  through.searchParams.set("application_name", options.applicationName);
  const handle = await openDatabase({ url: through.toString(), driver, timeouts: options.timeouts });
  const admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
  return {
    database,
    proxy,
    handle,
    admin,
    backends: async () =>
      (await admin.query("select pid from pg_stat_activity where application_name = $1", [options.applicationName])).rows.length,
    async close() {
      await admin.end();
      await handle.close();
      await proxy.close();
      await database.close();
    },
  };
}

import { sql } from "drizzle-orm";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, queryRows, type DatabaseHandle } from "./client";
import { isDatabaseUnavailable } from "./errors";
import { createTestDatabase, realPostgresDrivers, type TestDatabase } from "@/test/db";
import { startTcpProxy, type TcpProxy } from "@/test/db/tcp-proxy";

describe.each(realPostgresDrivers())("pool timeouts on %s behind a network that stops answering", (driver) => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let handle: DatabaseHandle;
  let admin: pg.Client;
  const applicationName = `pool_timeouts_${process.pid}`;

  beforeAll(async () => {
    database = await createTestDatabase(driver);
    const target = new URL(database.url!);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const through = new URL(database.url!);
    through.host = `127.0.0.1:${proxy.port}`;
    through.searchParams.set("application_name", applicationName);
    handle = await openDatabase({ url: through.toString(), driver, timeouts: { queryMs: 500, connectMs: 500 } });
    admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
    await handle?.close();
    await proxy?.close();
    await database?.close();
  });

  const failure = (promise: Promise<unknown>) => promise.then(() => new Error("expected a failure"), (error: unknown) => error);

  it("a query without an answer fails as unavailability after the query timeout and its connection is dropped", async () => {
    await handle.db.execute(sql`select 1`);
    proxy.freeze();
    const started = performance.now();
    const error = await failure(handle.db.execute(sql`select 1`));
    const elapsed = performance.now() - started;
    // A new connection cannot be made either while frozen: the connect timeout answers.
    const connectError = await failure(handle.db.transaction(async (tx) => tx.execute(sql`select 1`)));
    proxy.thaw();
    expect(isDatabaseUnavailable(error)).toBe(true);
    expect(isDatabaseUnavailable(connectError)).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(2_000);
    const backends = async () => (await admin.query("select pid from pg_stat_activity where application_name = $1", [applicationName])).rows.length;
    await expect.poll(backends, { timeout: 3_000 }).toBe(0);
    expect(await handle.db.execute(sql`select 1`)).toBeTruthy();
  });

  it("sets statement and idle-in-transaction timeouts on every pooled session", async () => {
    const [row] = await queryRows<{ statement: string; idle: string }>(
      handle.db,
      sql`select current_setting('statement_timeout') as statement, current_setting('idle_in_transaction_session_timeout') as idle`,
    );
    expect(row).toEqual({ statement: "30s", idle: "15s" });
  });
});

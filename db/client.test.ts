import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queryRows, type DatabaseHandle } from "./client";
import { isDatabaseUnavailable } from "./errors";
import { realPostgresDrivers } from "@/test/db";
import { openDatabaseBehindProxy, type DatabaseBehindProxy } from "@/test/db/behind-proxy";
import type { TcpProxy } from "@/test/db/tcp-proxy";

describe.each(realPostgresDrivers())("pool timeouts on %s behind a network that stops answering", (driver) => {
  let db: DatabaseBehindProxy;
  let proxy: TcpProxy;
  let handle: DatabaseHandle;

  beforeAll(async () => {
    db = await openDatabaseBehindProxy(driver, { applicationName: `pool_timeouts_${process.pid}`, timeouts: { queryMs: 500, connectMs: 500 } });
    ({ proxy, handle } = db);
  });
  afterAll(() => db?.close());

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
    const backends = () => db.backends();
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

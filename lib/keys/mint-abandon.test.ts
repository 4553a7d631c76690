import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "drizzle-orm";
import { openDatabase, type DatabaseHandle } from "@/db/client";
import { createTestDatabase, realPostgresDrivers, type TestDatabase } from "@/test/db";
import { startTcpProxy, type TcpProxy } from "@/test/db/tcp-proxy";
import { KeyMintTimeoutError, mintApiKey } from "./mint";
import { seedUserWithInstance, TEST_SECRET } from "@/test/fixtures/keys";

describe.each(realPostgresDrivers())("mintApiKey against a database that stops answering (%s)", (driver) => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let handle: DatabaseHandle;
  let admin: pg.Client;
  const applicationName = `mint_abandon_${process.pid}`;

  beforeAll(async () => {
    database = await createTestDatabase(driver);
    const target = new URL(database.url!);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const through = new URL(database.url!);
    through.host = `127.0.0.1:${proxy.port}`;
    through.searchParams.set("application_name", applicationName);
    handle = await openDatabase({ url: through.toString(), driver });
    admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
    await handle?.close();
    await proxy?.close();
    await database?.close();
  });

  const poolBackends = async () =>
    (await admin.query("select pid from pg_stat_activity where application_name = $1", [applicationName])).rows.length;

  it("closes the abandoned connection instead of returning it to the pool, and the next mint gets a fresh one", async () => {
    const { user, instance } = await seedUserWithInstance(handle.db);
    await handle.db.execute(sql`select 1`);
    expect(await poolBackends()).toBe(1);

    proxy.freeze();
    const started = performance.now();
    const error = await mintApiKey({ userId: user.id, instanceId: instance.id }, { db: handle.db, secret: TEST_SECRET, timeoutMs: 400 }).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(KeyMintTimeoutError);
    expect(performance.now() - started).toBeLessThan(1_000);
    proxy.thaw();

    // Returned to the pool, the connection would still be there (idle) once its late answers arrived.
    await expect.poll(poolBackends, { timeout: 3_000 }).toBe(0);
    const key = await mintApiKey({ userId: user.id, instanceId: instance.id }, { db: handle.db, secret: TEST_SECRET });
    expect(key.userId).toBe(user.id);
  });
});

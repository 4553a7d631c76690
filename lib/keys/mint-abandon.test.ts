import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "drizzle-orm";
import type { DatabaseHandle } from "@/db/client";
import { realPostgresDrivers } from "@/test/db";
import { openDatabaseBehindProxy, type DatabaseBehindProxy } from "@/test/db/behind-proxy";
import type { TcpProxy } from "@/test/db/tcp-proxy";
import { KeyMintTimeoutError, mintApiKey } from "./mint";
import { seedUserWithInstance, TEST_SECRET } from "@/test/fixtures/keys";

describe.each(realPostgresDrivers())("mintApiKey against a database that stops answering (%s)", (driver) => {
  let db: DatabaseBehindProxy;
  let proxy: TcpProxy;
  let handle: DatabaseHandle;

  beforeAll(async () => {
    db = await openDatabaseBehindProxy(driver, { applicationName: `mint_abandon_${process.pid}` });
    ({ proxy, handle } = db);
  });
  afterAll(() => db?.close());

  const poolBackends = () => db.backends();

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

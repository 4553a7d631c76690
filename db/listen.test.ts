import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { directUrlFor, isPoolerUrl, openDatabase } from "./client";
import { createTestDatabase, realPostgresDrivers, type TestDatabase } from "@/test/db";

describe("directUrlFor (LISTEN's connection)", () => {
  it("drops -pooler from a Neon pooled host and leaves every other URL alone", () => {
    const pooled = "postgresql://app:pw@ep-cool-dawn-123456-pooler.us-east-2.aws.neon.tech/neondb?sslmode=require";
    expect(isPoolerUrl(pooled)).toBe(true);
    expect(directUrlFor(pooled)).toBe("postgresql://app:pw@ep-cool-dawn-123456.us-east-2.aws.neon.tech/neondb?sslmode=require");
    for (const url of [
      "postgresql://app:pw@ep-cool-dawn-123456.us-east-2.aws.neon.tech/neondb",
      "postgres://postgres@127.0.0.1:5432/postgres",
      "postgres://u@db-pooler-west.example.com/app",
    ]) {
      expect(isPoolerUrl(url)).toBe(url.includes("-pooler."));
      if (!isPoolerUrl(url)) expect(directUrlFor(url)).toBe(url);
    }
  });
});

const FAST = { listenMinBackoffMs: 50, listenMaxBackoffMs: 400, listenHeartbeatMs: 300, listenHeartbeatTimeoutMs: 300 };

describe.each(realPostgresDrivers())("LISTEN on %s through lost connections", (driver) => {
  let database: TestDatabase;
  let admin: pg.Client;
  beforeAll(async () => {
    database = await createTestDatabase(driver);
    admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
    await database?.close();
  });

  const listenBackends = async () =>
    (
      await admin.query<{ pid: number }>(
        "select pid from pg_stat_activity where datname = current_database() and query ilike 'listen %' and pid <> pg_backend_pid()",
      )
    ).rows.map((row) => row.pid);

  it("keeps exactly one connection and one retry chain however often it is killed, and is live again afterwards", async () => {
    const handle = await openDatabase({ url: database.url, driver, timeouts: FAST });
    const seen: string[] = [];
    let live = 0;
    let lost = 0;
    const unlisten = await handle.listen("fleetdeck_listen_test", (payload) => seen.push(payload), {
      onLive: () => (live += 1),
      onLost: () => (lost += 1),
    });
    try {
      expect(live).toBe(1);
      expect(await listenBackends()).toHaveLength(1);
      // Kill it again as soon as it is back, and sometimes while it is still reconnecting.
      for (let round = 0; round < 6; round += 1) {
        await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query ilike 'listen %'");
        await new Promise((resolve) => setTimeout(resolve, round % 2 === 0 ? 30 : 700));
      }
      await expect.poll(listenBackends, { timeout: 5_000 }).toHaveLength(1);
      await expect.poll(() => live, { timeout: 5_000 }).toBeGreaterThan(1);
      expect(lost).toBe(live - 1);
      // Several heartbeats later there is still one connection (no chain was left behind).
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(await listenBackends()).toHaveLength(1);
      await admin.query("select pg_notify('fleetdeck_listen_test', 'after')");
      await expect.poll(() => seen, { timeout: 2_000 }).toContain("after");
    } finally {
      await unlisten();
      await handle.close();
    }
    await expect.poll(listenBackends, { timeout: 2_000 }).toHaveLength(0);
  });

  it("never counts as live when notifications do not come back (as behind a -pooler endpoint), and says so", async () => {
    // LISTEN on another database than the pool notifies on: the statement succeeds, nothing arrives.
    const other = await createTestDatabase(driver);
    const warnings: string[] = [];
    const handle = await openDatabase({ url: database.url, listenUrl: other.url, driver, timeouts: FAST, onWarning: (message) => warnings.push(message) });
    let live = 0;
    const unlisten = await handle.listen("fleetdeck_listen_test", () => {}, { onLive: () => (live += 1) });
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(live).toBe(0);
      expect(warnings.some((warning) => warning.includes("did not receive its own notification"))).toBe(true);
    } finally {
      await unlisten();
      await handle.close();
      await other.close();
    }
  });
});

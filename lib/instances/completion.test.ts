import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, queryRows, type DatabaseHandle } from "@/db/client";
import { createTestDatabase, type TestDatabase } from "@/test/db";
import { completeDurably, completionsSettled } from "./completion";

const FAST = { minDelayMs: 20, maxDelayMs: 80, giveUpAfterMs: 5_000 };

describe("completeDurably", () => {
  let database: TestDatabase;
  let unreachable: DatabaseHandle;
  beforeAll(async () => {
    database = await createTestDatabase("pglite");
    await database.db.execute(sql`create table completion_log (step text not null, at timestamptz not null default clock_timestamp())`);
    // Real driver errors: a server that refuses connections, as during a restart.
    unreachable = await openDatabase({ url: "postgres://postgres@127.0.0.1:1/none", driver: "postgres", timeouts: { connectMs: 500 } });
    process.env.FLEETDECK_LOG_LEVEL = "silent";
  });
  afterAll(async () => {
    delete process.env.FLEETDECK_LOG_LEVEL;
    await unreachable?.close();
    await database?.close();
  });

  const logged = async () => (await queryRows<{ step: string }>(database.db, sql`select step from completion_log order by at`)).map((row) => row.step);

  /** A write that meets an unavailable database `failures` times, then lands. */
  function flaky(step: string, failures: number) {
    let attempts = 0;
    return {
      label: step,
      attempts: () => attempts,
      write: async () => {
        attempts += 1;
        if (attempts <= failures) await unreachable.db.execute(sql`select 1`);
        await database.db.execute(sql`insert into completion_log (step) values (${step})`);
      },
    };
  }

  it("answers at once and lands every write, in order, once the database is back", async () => {
    const release = flaky("release", 3);
    const event = flaky("event", 0);
    await completeDurably([release, event], { test: "retry" }, FAST);
    expect(release.attempts()).toBe(1);
    expect(await logged()).toEqual([]);
    await completionsSettled();
    expect(await logged()).toEqual(["release", "event"]);
    expect(release.attempts()).toBe(4);
    expect(event.attempts()).toBe(1);
  });

  it("does not retry a write that failed for another reason, and still makes the next one", async () => {
    await database.db.execute(sql`delete from completion_log`);
    let broken = 0;
    const event = flaky("after-bug", 0);
    await completeDurably(
      [
        {
          label: "a buggy write",
          write: async () => {
            broken += 1;
            await database.db.execute(sql`select * from no_such_table`);
          },
        },
        event,
      ],
      { test: "bug" },
      FAST,
    );
    await completionsSettled();
    expect(broken).toBe(1);
    expect(await logged()).toEqual(["after-bug"]);
  });
});

import { afterEach, describe, expect, it } from "vitest";
import { openDatabase, type DatabaseHandle } from "@/db/client";
import { applyMigrations } from "@/db/migrate";
import { getMigrationState } from "@/db/readiness";
import { requireReady } from "./readiness";
import { isAppError } from "@/lib/errors";

describe("readiness", () => {
  let handle: DatabaseHandle | undefined;
  afterEach(async () => {
    await handle?.close().catch(() => {});
    handle = undefined;
  });

  it("a database without the committed migrations is not ready; once they are applied it is", async () => {
    handle = await openDatabase({ pgliteDir: "memory://" });
    const fresh = await getMigrationState(handle.db);
    expect(fresh.applied).toBe(false);
    expect(fresh).toEqual({ applied: false, pending: fresh.migrations, migrations: expect.any(Number) });
    const refused = await requireReady({ handle: async () => handle! }).catch((error: unknown) => error);
    expect(isAppError(refused) && [refused.code, refused.details?.reason]).toEqual(["not_ready", "migrations_pending"]);

    await applyMigrations(handle);
    expect(await getMigrationState(handle.db)).toEqual({ applied: true, migrations: fresh.migrations });
    expect(await requireReady({ handle: async () => handle! })).toEqual({ ok: true, database: "ok", migrations: fresh.migrations });
  }, 90_000);

  it("a database that does not answer is not ready, within the probe budget", async () => {
    const started = Date.now();
    const hanging = await requireReady({ handle: () => new Promise<never>(() => {}), timeoutMs: 200 }).catch((error: unknown) => error);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(isAppError(hanging) && [hanging.code, hanging.details?.reason]).toEqual(["not_ready", "database_timeout"]);

    // A refused connection: the message names the condition, never the driver's detail.
    const refusal = Object.assign(new Error("connect ECONNREFUSED 10.0.0.7:5432"), { code: "ECONNREFUSED" });
    const down = await requireReady({ handle: () => Promise.reject(refusal) }).catch((error: unknown) => error);
    expect(isAppError(down) && [down.code, down.details?.reason]).toEqual(["not_ready", "database_unreachable"]);
    expect(isAppError(down) && down.message).not.toMatch(/ECONNREFUSED|10\.0\.0\.7/);
  });
});

/**
 * Machine-provider errors through the production build when the scheduler's bundle (loaded by
 * instrumentation.ts) created the process's provider before any route ran: Next compiles the
 * provider and its error class once per bundle, so these errors reach the routes from another
 * copy of `MachineError`. They must still be recognised — a 502 for a provider failure, a missing
 * machine reconciled and stopped, never a 500.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instances, type NewInstanceRow } from "@/db/schema";
import { expectBody, expectError } from "@/test/http/expectations";
import { seedAccount, startApiServer, type ApiServer } from "@/test/http/api-server";
import { startFakeFly, type FakeFly } from "@/test/fly/fake-fly";
import { instanceSchema, instanceStatusSchema } from "@/lib/openapi/schemas";
import { signingKeyIdOf } from "@/lib/tokens/key-ring";

const DAY_MS = 24 * 60 * 60 * 1000;

describe("provider errors created in the scheduler's bundle (next start, fly provider)", () => {
  let fly: FakeFly;
  let server: ApiServer;
  let internal: string;
  const ids = { bait: randomUUID(), missing: randomUUID(), stopMissing: randomUUID(), noCapacity: randomUUID() };

  // Known up front, so the seeded keys can name it as their signer (kid): keys under the current
  // secret are not due for a re-key, and the scheduler must not refresh these instances.
  const signingSecret = randomBytes(32).toString("hex");

  beforeAll(async () => {
    fly = await startFakeFly();
    server = await startApiServer({
      env: {
        NEXTAUTH_SECRET: signingSecret,
        MACHINE_PROVIDER: "fly",
        FLY_API_TOKEN: fly.token,
        FLY_APP_NAME: fly.app,
        FLY_API_HOSTNAME: fly.url,
        // The scheduler's first pass (a second after start) makes the provider, before any request.
        SCHEDULER_INTERVAL_SECONDS: "1",
      },
      seed: async (db) => {
        const owner = await seedAccount(db, { email: "owner@provider-errors.test" });
        const now = Date.now();
        // Keys that are current and far from expiry, so the scheduler reconciles but never refreshes.
        const healthy = (id: string, values: Partial<NewInstanceRow>): NewInstanceRow => ({
          id,
          ownerId: owner.row.id,
          name: id.slice(0, 8),
          provider: "fly",
          region: "iad",
          imageTag: "latest",
          keyId: `key-${id}`,
          deployedKeyId: `key-${id}`,
          keySigningKid: signingKeyIdOf(signingSecret),
          deployedKeySigningKid: signingKeyIdOf(signingSecret),
          keyExpiresAt: new Date(now + 20 * DAY_MS),
          deployedKeyExpiresAt: new Date(now + 20 * DAY_MS),
          ...values,
        });
        await db.insert(instances).values([
          // Never checked: the scheduler's reconcile asks Fly about it first.
          healthy(ids.bait, { status: "running", machineId: "0000000000ba17" }),
          // Checked a minute ago: left to the routes below.
          healthy(ids.missing, { status: "running", machineId: "0000000000dead", statusCheckedAt: new Date(now - 60_000) }),
          healthy(ids.stopMissing, { status: "running", machineId: "0000000000beef", statusCheckedAt: new Date(now - 60_000) }),
          healthy(ids.noCapacity, { status: "stopped", statusCheckedAt: new Date(now - 60_000) }),
        ]);
      },
    });
    internal = server.secrets.INTERNAL_API_SECRET!;
    const deadline = Date.now() + 20_000;
    while (!fly.requestsTo("Machines_show").some((request) => request.path.endsWith("/0000000000ba17"))) {
      if (Date.now() > deadline) throw new Error(`the scheduler never asked Fly about the bait machine:\n${server.logs()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }, 240_000);

  afterAll(async () => {
    await server?.close();
    await fly?.close();
  });

  it("reconciles a machine Fly no longer has (404) into failed / machine_missing", async () => {
    const status = expectBody(await server.request("GET", `/api/platform/instances/${ids.missing}/status`, { bearer: internal }), instanceStatusSchema);
    expect(status).toMatchObject({ status: "failed", machineId: null, lastError: { code: "machine_missing" } });
  });

  it("stops an instance whose machine is gone instead of failing", async () => {
    const stopped = expectBody(await server.request("POST", `/api/platform/instances/${ids.stopMissing}/stop`, { bearer: internal }), instanceSchema);
    expect(stopped).toMatchObject({ status: "stopped", machineId: null });
  });

  it("answers 502 machine_error when Fly has no capacity", async () => {
    fly.inject("Machines_create", { type: "capacity" });
    expectError(await server.request("POST", `/api/platform/instances/${ids.noCapacity}/start`, { bearer: internal }), 502, "machine_error");
    const row = await server.inspect(async (db) => (await db.select().from(instances).where(eq(instances.id, ids.noCapacity)))[0]!);
    expect(row).toMatchObject({ lastErrorCode: "machine_error", leaseToken: null });
    expect(server.logs()).not.toMatch(/unexpected error|unhandled error/);
  });
});

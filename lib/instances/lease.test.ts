import { eq, isNull, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instances } from "@/db/schema";
import { testDrivers } from "@/test/db";
import type { MachineProvider } from "@/lib/machines/types";
import { toInstanceStatusDto } from "./dto";
import { createLeaseFence, fenceMachineProvider } from "./fence";
import { acquireLease, claimLeases, releaseLease, renewLease, updateUnderLeaseIf } from "./lease";
import { createLifecycleHarness, type LifecycleHarness } from "@/test/instances/harness";

describe.each(testDrivers())("operation leases (%s)", (driver) => {
  let harness: LifecycleHarness;
  beforeAll(async () => {
    harness = await createLifecycleHarness(driver);
  });
  afterAll(async () => {
    await harness?.close();
  });

  async function freshInstance() {
    const owner = await harness.createUser();
    return harness.provision(owner.id);
  }

  it("a conditional write applies only while the condition holds, and fails loudly once the lease is lost", async () => {
    const row = await freshInstance();
    const db = harness.database.db;
    await db.update(instances).set({ keyId: "key_aaaaaaaaaaaa" }).where(eq(instances.id, row.id));
    const lease = await acquireLease(db, { instanceId: row.id, operation: "redeploy", ttlMs: 60_000 });
    const usable = sql`${instances.keyRevokedAt} is null`;

    expect(await updateUnderLeaseIf(db, lease, usable, { leaseStep: "updating_machine" })).toMatchObject({ leaseStep: "updating_machine" });
    // A rotation commits in between: the same write now refuses, and the lease is still ours.
    await db.update(instances).set({ keyRevokedAt: new Date() }).where(eq(instances.id, row.id));
    expect(await updateUnderLeaseIf(db, lease, usable, { status: "restarting" })).toBeUndefined();
    const [after] = await db.select().from(instances).where(eq(instances.id, row.id));
    expect(after).toMatchObject({ status: "provisioned", leaseToken: lease.token });

    // Another operation takes over an expired lease: every further write of the old one throws.
    await db.update(instances).set({ leaseExpiresAt: sql`now() - interval '1 second'` }).where(eq(instances.id, row.id));
    await acquireLease(db, { instanceId: row.id, operation: "stop" });
    await expect(updateUnderLeaseIf(db, lease, undefined, { status: "running" })).rejects.toMatchObject({ code: "operation_in_progress" });
    expect(await renewLease(db, lease)).toBe(false);
    expect(await releaseLease(db, lease)).toBeUndefined();
  });

  it("renewing pushes the expiry forward; claims skip leased rows and lease each claimed row separately", async () => {
    const db = harness.database.db;
    const leased = await freshInstance();
    const free = [await freshInstance(), await freshInstance()];
    const lease = await acquireLease(db, { instanceId: leased.id, operation: "start", ttlMs: 1_000 });
    const before = lease.row.leaseExpiresAt!.getTime();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await renewLease(db, { ...lease, ttlMs: 60_000 })).toBe(true);
    const [renewed] = await db.select().from(instances).where(eq(instances.id, leased.id));
    expect(renewed!.leaseExpiresAt!.getTime()).toBeGreaterThan(before + 50_000);

    const ids = [leased.id, ...free.map((row) => row.id)];
    const claimed = await claimLeases(db, {
      where: sql`${instances.id} in (${sql.join(ids.map((id) => sql`${id}::uuid`), sql`, `)})`,
      orderBy: [instances.createdAt],
      limit: 10,
      operation: "refresh",
      ttlMs: 60_000,
    });
    expect(claimed.map((claim) => claim.instanceId).sort()).toEqual(free.map((row) => row.id).sort());
    expect(new Set(claimed.map((claim) => claim.token)).size).toBe(2);
    const stillFree = await db.select().from(instances).where(isNull(instances.leaseToken));
    expect(stillFree.some((row) => ids.includes(row.id))).toBe(false);
  });

  it("an expired lease is no operation in progress, and taking it over names the interrupted operation", async () => {
    const db = harness.database.db;
    const row = await freshInstance();
    const dead = await acquireLease(db, { instanceId: row.id, operation: "redeploy", ttlMs: 60_000, step: "waiting_for_start" });
    expect(toInstanceStatusDto(dead.row).operation).toEqual({ name: "redeploy", step: "waiting_for_start" });
    await db.update(instances).set({ leaseExpiresAt: sql`now() - interval '1 second'` }).where(eq(instances.id, row.id));
    const [expired] = await db.select().from(instances).where(eq(instances.id, row.id));
    expect(toInstanceStatusDto(expired!).operation).toBeNull();

    const takeover = await acquireLease(db, { instanceId: row.id, operation: "start" });
    expect(takeover.interrupted).toMatchObject({ operation: "redeploy", step: "waiting_for_start" });
    // A live lease is refused as before, and a lease taken on a free row names nothing.
    await expect(acquireLease(db, { instanceId: row.id, operation: "stop" })).rejects.toMatchObject({ code: "operation_in_progress" });
    await releaseLease(db, takeover);
    expect((await acquireLease(db, { instanceId: row.id, operation: "stop" })).interrupted).toBeUndefined();
  });

  it("fences the machine provider: no call once a heartbeat renewal finds the lease gone, or none succeeded for a TTL", async () => {
    const db = harness.database.db;
    const calls: string[] = [];
    const recording = new Proxy({} as MachineProvider, {
      get: (_, method: string) => (method === "name" ? "local" : async () => void calls.push(method)),
    });

    const row = await freshInstance();
    const lease = await acquireLease(db, { instanceId: row.id, operation: "redeploy", ttlMs: 60_000 });
    const fence = createLeaseFence(db, lease);
    const machines = fenceMachineProvider(recording, fence);
    await machines.update("m", { config: { image: "", env: {}, metadata: {} } });
    // Another replica takes the instance over; the next heartbeat renewal notices.
    await db.update(instances).set({ leaseToken: crypto.randomUUID() }).where(eq(instances.id, row.id));
    await expect(fence.renew()).rejects.toMatchObject({ code: "operation_in_progress" });
    await expect(machines.get("m")).rejects.toMatchObject({ code: "operation_in_progress" });
    await expect(machines.stop("m")).rejects.toMatchObject({ code: "operation_in_progress" });
    expect(calls).toEqual(["update"]);

    // Renewals that fail (the database unreachable) for a whole TTL: the lease may be gone, so stop too.
    let now = 0;
    const other = await acquireLease(db, { instanceId: (await freshInstance()).id, operation: "start", ttlMs: 1_000 });
    const unreachable = { update: () => ({ set: () => ({ where: () => ({ returning: () => Promise.reject(new Error("connection refused")) }) }) }) };
    const blind = createLeaseFence(unreachable as unknown as typeof db, other, () => now);
    await expect(blind.renew()).rejects.toThrow("connection refused");
    expect(blind.lost).toBe(false);
    now = 1_000;
    await expect(blind.renew()).rejects.toThrow("connection refused");
    expect(() => blind.assertHeld()).toThrow(/took too long/);
  });
});

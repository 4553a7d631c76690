import { eq, isNull, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instances } from "@/db/schema";
import { testDrivers } from "@/db/testing";
import { acquireLease, claimLeases, releaseLease, renewLease, updateUnderLeaseIf } from "./lease";
import { createLifecycleHarness, type LifecycleHarness } from "./testing/harness";

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
});

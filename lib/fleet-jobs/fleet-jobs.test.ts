import { and, eq, inArray, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type DatabaseHandle } from "@/db/client";
import { fleetJobItems, instanceEvents, instances, users } from "@/db/schema";
import { testDrivers } from "@/test/db";
import { postgresBinDir, startThrowawayPostgres, type ThrowawayPostgres } from "@/test/db/throwaway-postgres";
import { acquireLease } from "@/lib/instances/lease";
import { createLifecycleHarness, type LifecycleHarness } from "@/test/instances/harness";
import { rotatePepper } from "@/lib/keys/rotate-pepper";
import { createLocalMachineProvider } from "@/lib/machines/local/provider";
import type { MachineProvider } from "@/lib/machines/types";
import { cancelFleetJob, createFleetJob, getFleetJobOrThrow, pauseFleetJob, resumeFleetJob } from "./jobs";
import { claimNextFleetJobItem, runClaimedFleetJobItem, workFleetJobs, type FleetJobWorkerDeps, type FleetJobWorkerOptions } from "./worker";

/** The local provider (real gateway processes), counting the machine calls made per machine and per kind. */
function countingProvider(inner: MachineProvider) {
  const calls: { method: string; id: string }[] = [];
  const provider = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function" || !["create", "start", "stop", "update"].includes(String(property))) return value;
      return async (...args: unknown[]) => {
        const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        const id = property === "create" ? (result as { id: string }).id : String(args[0]);
        calls.push({ method: String(property), id });
        return result;
      };
    },
  });
  return { provider, calls };
}

const OPTIONS: FleetJobWorkerOptions = { concurrency: 4, claimTtlMs: 1_500, busyRetryMs: 300 };

/** A replica's scheduler: works jobs, looks again shortly after, until `done()`. */
async function pollUntil(done: () => Promise<boolean>, work: () => Promise<unknown>, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error("timed out waiting for the job");
    await work();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const havePostgres = Boolean(process.env.TEST_DATABASE_URL || postgresBinDir());

describe.skipIf(!havePostgres)("fleet jobs on two replicas (real PostgreSQL, local machines)", () => {
  let server: ThrowawayPostgres | undefined;
  let harness: LifecycleHarness;
  let replicaB: DatabaseHandle;
  let counting: ReturnType<typeof countingProvider>;
  let admin: { id: string };
  let ids: string[];
  const COUNT = 24;

  beforeAll(async () => {
    const serverUrl = process.env.TEST_DATABASE_URL ?? (server = await startThrowawayPostgres()).url;
    counting = countingProvider(createLocalMachineProvider({ onOutput: () => {} }));
    harness = await createLifecycleHarness("postgres", { machines: counting.provider, serverUrl });
    replicaB = await openDatabase({ url: harness.database.url!, driver: "postgres" });
    const adminRow = await harness.createUser("admin@example.com");
    await harness.database.db.update(users).set({ role: "admin" }).where(eq(users.id, adminRow.id));
    admin = adminRow;
    const owners = [await harness.createUser(), await harness.createUser(), await harness.createUser()];
    ids = [];
    for (let index = 0; index < COUNT; index++) ids.push((await harness.provision(owners[index % owners.length]!.id)).id);
  }, 120_000);

  afterAll(async () => {
    await replicaB?.close();
    await harness?.close();
    await server?.close();
  });

  const replicas = (): FleetJobWorkerDeps[] =>
    [harness.database.db, replicaB.db].map((db) => ({ ...harness.deps, db, revokeKeys: (input) => rotatePepper(input, { db }) }));

  const jobDone = (jobId: string) => async () => (await getFleetJobOrThrow(harness.database.db, jobId)).state === "finished";

  it("two replicas share a job; a replica killed mid-item leaves it to be retried once its claim and lease run out; every item is done exactly once", async () => {
    const db = harness.database.db;
    const job = await createFleetJob(db, { kind: "start", selection: { type: "instances", ids } }, admin, new Date());
    expect(job).toMatchObject({ state: "running", totalItems: COUNT, counts: { pending: COUNT } });

    // A third replica claims the first item, takes its instance's operation lease, and dies.
    const abandoned = await claimNextFleetJobItem(db, OPTIONS.claimTtlMs);
    await acquireLease(db, { instanceId: abandoned!.targetId, operation: "start", ttlMs: 60_000 });

    const counts = async () => (await getFleetJobOrThrow(db, job.id)).counts;
    const succeededBy = [0, 0];
    const work = (index: number, deps: FleetJobWorkerDeps) => async () => {
      const summary = await workFleetJobs(OPTIONS, deps);
      succeededBy[index]! += summary.succeeded;
      return summary;
    };
    // Both replicas' schedulers share the other items.
    await Promise.all(replicas().map((deps, index) => pollUntil(async () => (await counts()).succeeded === COUNT - 1, work(index, deps))));
    expect(succeededBy.every((succeeded) => succeeded > 0)).toBe(true);
    expect(succeededBy[0]! + succeededBy[1]!).toBe(COUNT - 1);

    // The dead replica's claim runs out: its item is claimed again, finds the instance still
    // leased (by the dead replica) and goes back to the queue instead of failing.
    await new Promise((resolve) => setTimeout(resolve, OPTIONS.claimTtlMs + 100));
    expect(await work(0, replicas()[0]!)()).toMatchObject({ claimed: 1, retried: 1, failed: 0 });
    expect(await counts()).toMatchObject({ pending: 1, failed: 0 });

    // Its lease runs out too (recovered like any crashed replica's): the item is done.
    await db.update(instances).set({ leaseExpiresAt: sql`now() - interval '1 second'` }).where(eq(instances.id, abandoned!.targetId));
    await Promise.all(replicas().map((deps, index) => pollUntil(jobDone(job.id), work(index, deps))));

    const finished = await getFleetJobOrThrow(db, job.id, { limit: 500 });
    expect(finished.counts).toMatchObject({ succeeded: COUNT, pending: 0, running: 0, failed: 0 });
    expect(finished.items.find((item) => item.target.id === abandoned!.targetId)!.attempts).toBeGreaterThanOrEqual(2);
    expect(finished.finishedAt).not.toBeNull();

    // Exactly once: one successful start per instance in the audit log, recorded as the admin,
    // and one machine created and started per instance.
    const events = await db
      .select({ instanceId: instanceEvents.instanceId, actorId: instanceEvents.actorId })
      .from(instanceEvents)
      .where(and(eq(instanceEvents.action, "start"), eq(instanceEvents.outcome, "success"), inArray(instanceEvents.instanceId, ids)));
    expect(events.map((event) => event.instanceId).sort()).toEqual([...ids].sort());
    expect(new Set(events.map((event) => event.actorId))).toEqual(new Set([admin.id]));
    const creates = counting.calls.filter((call) => call.method === "create");
    expect(creates).toHaveLength(COUNT);
    expect(counting.calls).toHaveLength(COUNT);
    const machineIds = (await db.select({ machineId: instances.machineId }).from(instances).where(inArray(instances.id, ids))).map((row) => row.machineId);
    expect(new Set(creates.map((call) => call.id))).toEqual(new Set(machineIds));
    const running = await db.select({ status: instances.status }).from(instances).where(inArray(instances.id, ids));
    expect(running.every((row) => row.status === "running")).toBe(true);
  }, 120_000);

  /** Successful (or no-op) events of `action` that name this fleet job item. */
  const eventsOfItem = (itemId: number, action: string) =>
    harness.database.db
      .select({ instanceId: instanceEvents.instanceId, outcome: instanceEvents.outcome })
      .from(instanceEvents)
      .where(and(eq(instanceEvents.action, action), inArray(instanceEvents.outcome, ["success", "noop"]), sql`(${instanceEvents.details} ->> 'fleetJobItemId')::bigint = ${itemId}`));

  it("an item whose worker died right after its operation ended is not run again: its outcome and audit event committed with the operation", async () => {
    const db = harness.database.db;
    const targets = ids.slice(3, 6);
    const job = await createFleetJob(db, { kind: "redeploy", selection: { type: "instances", ids: targets } }, admin, new Date());
    const updatesBefore = counting.calls.filter((call) => call.method === "update").length;

    // A replica claims the first item and runs its redeploy to the end, then dies before any
    // bookkeeping of its own (no record, no claim release, no job check).
    const claimed = await claimNextFleetJobItem(db, OPTIONS.claimTtlMs);
    const result = await runClaimedFleetJobItem({ ...claimed!, kind: "redeploy", createdBy: admin.id }, replicas()[0]!);
    expect(result).toBe("succeeded");
    const [row] = await db.select().from(fleetJobItems).where(eq(fleetJobItems.id, claimed!.id));
    expect(row).toMatchObject({ state: "succeeded", claimToken: null, claimExpiresAt: null, attempts: 1 });
    expect(await eventsOfItem(claimed!.id, "redeploy")).toEqual([{ instanceId: claimed!.targetId, outcome: "success" }]);

    // Long after its claim would have run out, both replicas work the job: that item is not claimed again.
    await new Promise((resolve) => setTimeout(resolve, OPTIONS.claimTtlMs + 100));
    const summaries = await Promise.all(replicas().map((deps) => workFleetJobs(OPTIONS, deps)));
    expect(summaries.reduce((sum, summary) => sum + summary.claimed, 0)).toBe(targets.length - 1);
    expect(await getFleetJobOrThrow(db, job.id)).toMatchObject({ state: "finished", counts: { succeeded: targets.length } });

    // Exactly once per target: one successful redeploy event naming its item, one machine update.
    const items = await db.select({ id: fleetJobItems.id, targetId: fleetJobItems.targetId }).from(fleetJobItems).where(eq(fleetJobItems.jobId, job.id));
    for (const item of items) expect(await eventsOfItem(item.id, "redeploy")).toEqual([{ instanceId: item.targetId, outcome: "success" }]);
    const updates = counting.calls.filter((call) => call.method === "update").slice(updatesBefore);
    const machineOf = new Map((await db.select({ id: instances.id, machineId: instances.machineId }).from(instances).where(inArray(instances.id, targets))).map((r) => [r.machineId, r.id]));
    expect(updates.map((call) => machineOf.get(call.id)).sort()).toEqual([...targets].sort());
  }, 60_000);

  it("a worker whose claim was taken over cannot commit its item's outcome: its operation fails, the new claim's run is the one recorded", async () => {
    const db = harness.database.db;
    const target = ids[6]!;
    const job = await createFleetJob(db, { kind: "redeploy", selection: { type: "instances", ids: [target] } }, admin, new Date());
    const stale = await claimNextFleetJobItem(db, OPTIONS.claimTtlMs);
    // Its claim runs out while it is still alive (a stalled worker), and another worker claims the item.
    await db.update(fleetJobItems).set({ claimExpiresAt: sql`now() - interval '1 second'` }).where(eq(fleetJobItems.id, stale!.id));
    const fresh = await claimNextFleetJobItem(db, OPTIONS.claimTtlMs);
    expect(fresh).toMatchObject({ id: stale!.id });
    expect(fresh!.token).not.toBe(stale!.token);

    const [deps] = replicas();
    await expect(runClaimedFleetJobItem({ ...stale!, kind: "redeploy", createdBy: admin.id }, deps!)).rejects.toMatchObject({ code: "operation_in_progress" });
    expect(await eventsOfItem(stale!.id, "redeploy")).toEqual([]);
    const [held] = await db.select().from(fleetJobItems).where(eq(fleetJobItems.id, stale!.id));
    expect(held).toMatchObject({ state: "running", claimToken: fresh!.token });

    expect(await runClaimedFleetJobItem({ ...fresh!, kind: "redeploy", createdBy: admin.id }, deps!)).toBe("succeeded");
    expect(await eventsOfItem(stale!.id, "redeploy")).toEqual([{ instanceId: target, outcome: "success" }]);
    const [instance] = await db.select().from(instances).where(eq(instances.id, target));
    expect(instance).toMatchObject({ status: "running", leaseToken: null });
    expect(instance!.deployedKeyId).toBe(instance!.keyId);
    const [done] = await db.select().from(fleetJobItems).where(eq(fleetJobItems.jobId, job.id));
    expect(done).toMatchObject({ state: "succeeded", claimToken: null });
  }, 60_000);

  it("a revoke-keys item commits with its rotation: a stale claim cannot rotate, and a worker that died right after rotating is not run again", async () => {
    const db = harness.database.db;
    const owner = await harness.createUser();
    const pepperOf = async () => (await db.select({ pepper: users.apiTokenPepper }).from(users).where(eq(users.id, owner.id)))[0]!.pepper;
    const job = await createFleetJob(db, { kind: "revoke_keys", selection: { type: "owners", ids: [owner.id] } }, admin, new Date());
    const [deps] = replicas();

    // A stalled worker whose claim was taken over: its rotation rolls back, the pepper stays.
    const stale = await claimNextFleetJobItem(db, OPTIONS.claimTtlMs);
    await db.update(fleetJobItems).set({ claimExpiresAt: sql`now() - interval '1 second'` }).where(eq(fleetJobItems.id, stale!.id));
    const fresh = await claimNextFleetJobItem(db, OPTIONS.claimTtlMs);
    expect(fresh).toMatchObject({ id: stale!.id, jobId: job.id });
    const before = await pepperOf();
    await expect(runClaimedFleetJobItem({ ...stale!, kind: "revoke_keys", createdBy: admin.id }, deps!)).rejects.toMatchObject({ code: "operation_in_progress" });
    expect(await pepperOf()).toBe(before);

    // The live claim rotates and records its item in one transaction; then its worker "dies".
    expect(await runClaimedFleetJobItem({ ...fresh!, kind: "revoke_keys", createdBy: admin.id }, deps!)).toBe("succeeded");
    const rotated = await pepperOf();
    expect(rotated).not.toBe(before);
    const [row] = await db.select().from(fleetJobItems).where(eq(fleetJobItems.id, fresh!.id));
    expect(row).toMatchObject({ state: "succeeded", claimToken: null, claimExpiresAt: null });

    // Long after its claim would have run out, both replicas work: nothing is claimed, nothing rotates again.
    await new Promise((resolve) => setTimeout(resolve, OPTIONS.claimTtlMs + 100));
    const summaries = await Promise.all(replicas().map((replica) => workFleetJobs(OPTIONS, replica)));
    expect(summaries.reduce((sum, summary) => sum + summary.claimed, 0)).toBe(0);
    expect(await pepperOf()).toBe(rotated);
    expect(await getFleetJobOrThrow(db, job.id)).toMatchObject({ state: "finished", counts: { succeeded: 1 } });
    const rotations = await db.select({ details: instanceEvents.details }).from(instanceEvents).where(and(eq(instanceEvents.action, "pepper_rotated"), eq(instanceEvents.userId, owner.id)));
    expect(rotations).toEqual([{ details: expect.objectContaining({ fleetJobId: job.id, fleetJobItemId: fresh!.id }) }]);
  }, 30_000);

  it("pause holds a job's items, resume goes on where it stopped, cancel ends it; a second start is a no-op", async () => {
    const db = harness.database.db;
    const [deps] = replicas();
    const machineCalls = counting.calls.length;
    const job = await createFleetJob(db, { kind: "start", selection: { type: "instances", ids: ids.slice(0, 6) } }, admin, new Date());
    await pauseFleetJob(db, job.id);
    await expect(pauseFleetJob(db, job.id)).rejects.toMatchObject({ code: "invalid_state" });
    expect(await workFleetJobs(OPTIONS, deps!)).toMatchObject({ claimed: 0 });
    // A newer job is worked while the older one is paused, and finishes.
    const newer = await createFleetJob(db, { kind: "start", selection: { type: "instances", ids: ids.slice(6, 8) } }, admin, new Date());
    expect(await workFleetJobs(OPTIONS, deps!)).toMatchObject({ claimed: 2, noop: 2 });
    expect(await getFleetJobOrThrow(db, newer.id)).toMatchObject({ state: "finished", counts: { noop: 2 } });
    expect(await getFleetJobOrThrow(db, job.id)).toMatchObject({ state: "paused", counts: { pending: 6 } });

    await resumeFleetJob(db, job.id);
    expect(await workFleetJobs({ ...OPTIONS, concurrency: 1, limit: 2 }, deps!)).toMatchObject({ claimed: 2, noop: 2 });
    const cancelled = await cancelFleetJob(db, job.id);
    expect(cancelled).toMatchObject({ state: "cancelled", counts: { noop: 2, cancelled: 4, pending: 0 } });
    await expect(resumeFleetJob(db, job.id)).rejects.toMatchObject({ code: "invalid_state" });
    expect(await workFleetJobs(OPTIONS, deps!)).toMatchObject({ claimed: 0 });
    // The start no-ops touched no machine.
    expect(counting.calls).toHaveLength(machineCalls);
  });

  it("stops everything matching a filter, failing only what cannot be done, with its error", async () => {
    const db = harness.database.db;
    const [deps] = replicas();
    // One instance is gone: its item fails with the lifecycle error, the rest stop.
    await db.update(instances).set({ destroyedAt: new Date(), status: "destroyed" }).where(eq(instances.id, ids[1]!));
    const job = await createFleetJob(db, { kind: "stop", selection: { type: "filter", filter: { status: ["running"] }, sort: "lastActivityAt", order: "asc" } }, admin, new Date());
    expect(job.totalItems).toBe(COUNT - 1);
    // Destroyed after the job was created: the item fails, the others go on.
    await db.update(instances).set({ destroyedAt: new Date(), status: "destroyed" }).where(eq(instances.id, ids[2]!));
    await pollUntil(jobDone(job.id), () => workFleetJobs(OPTIONS, deps!));
    const done = await getFleetJobOrThrow(db, job.id, { limit: 100, state: ["failed"] });
    expect(done.counts).toMatchObject({ succeeded: COUNT - 2, failed: 1 });
    expect(done.items).toEqual([expect.objectContaining({ target: expect.objectContaining({ id: ids[2] }), error: { code: "not_found", message: "No such instance." } })]);
  }, 60_000);
});

describe.each(testDrivers())("fleet job creation and key revocation (%s)", (driver) => {
  let harness: LifecycleHarness;
  beforeAll(async () => {
    harness = await createLifecycleHarness(driver);
  });
  afterAll(async () => {
    await harness?.close();
  });

  it("has no 500-item cap, resolves a filter once, and revokes each owner's keys once", async () => {
    const db = harness.database.db;
    const admin = await harness.createUser();
    const owners = [await harness.createUser(), await harness.createUser()];
    await db.insert(instances).values(
      Array.from({ length: 620 }, (_, index) => ({ ownerId: owners[index % 2]!.id, name: `bulk ${index}`, provider: "local" as const, region: "local", imageTag: "latest", status: "stopped" as const })),
    );
    const big = await createFleetJob(db, { kind: "redeploy", selection: { type: "filter", filter: { status: ["stopped"] }, sort: "lastActivityAt", order: "asc" } }, admin, new Date());
    expect(big.totalItems).toBe(620);
    expect((await cancelFleetJob(db, big.id)).counts.cancelled).toBe(620);

    const before = await db.select({ id: users.id, pepper: users.apiTokenPepper }).from(users).where(inArray(users.id, owners.map((owner) => owner.id)));
    const revoke = await createFleetJob(db, { kind: "revoke_keys", selection: { type: "filter", filter: { status: ["stopped"] }, sort: "lastActivityAt", order: "asc" } }, admin, new Date());
    expect(revoke.totalItems).toBe(2);
    const deps: FleetJobWorkerDeps = { ...harness.deps, revokeKeys: (input) => rotatePepper(input, { db, cache: harness.deps.keyStateCache! }) };
    expect(await workFleetJobs(OPTIONS, deps)).toMatchObject({ claimed: 2, succeeded: 2 });
    expect((await getFleetJobOrThrow(db, revoke.id)).state).toBe("finished");
    const after = await db.select({ id: users.id, pepper: users.apiTokenPepper }).from(users).where(inArray(users.id, owners.map((owner) => owner.id)));
    for (const row of after) expect(row.pepper).not.toBe(before.find((other) => other.id === row.id)!.pepper);
    const rotations = await db.select({ count: sql<number>`count(*)::int` }).from(instanceEvents).where(and(eq(instanceEvents.action, "pepper_rotated"), eq(instanceEvents.actorId, admin.id)));
    expect(Number(rotations[0]!.count)).toBe(2);

    await expect(createFleetJob(db, { kind: "stop", selection: { type: "filter", filter: { status: ["starting"] }, sort: "lastActivityAt", order: "asc" } }, admin, new Date())).rejects.toMatchObject({ code: "validation_failed" });
    await expect(getFleetJobOrThrow(db, "00000000-0000-4000-8000-000000000000")).rejects.toMatchObject({ code: "not_found" });
    expect(await db.select().from(fleetJobItems).where(eq(fleetJobItems.jobId, revoke.id))).toHaveLength(2);
  }, 60_000);
});

/**
 * The fleet-job drill on real processes: two `next start` replicas on one PostgreSQL share one
 * local machine service and a 200-item start job, claimed by both replicas' schedulers. One replica
 * is killed with `kill -9` mid-job, then the survivor is stopped and started again mid-job; the
 * job still finishes with every item done exactly once: one successful start per instance in the
 * audit log, naming its job item, and one machine per instance in the machine service's request
 * log (a retried item adopts the machine its dead attempt created). Then a stop job over the same
 * instances is paused (no item is claimed and no machine is called while paused), resumed and
 * cancelled (pending items end `cancelled`, their instances untouched). Claims, leases and polls
 * are shortened through the environment. Needs TEST_DATABASE_URL (two processes cannot share PGlite).
 */
import { and, eq, inArray } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "@/db/client";
import { fleetJobItems, instanceEvents, instances } from "@/db/schema";
import { provisionInstance } from "@/lib/instances/provision";
import { fleetJobSchema, fleetJobWithItemsSchema } from "@/lib/openapi/fleet-jobs";
import { seedAccount, startApiServer, type ApiServer, type SeededAccount } from "@/test/http/api-server";
import { expectBody, expectError } from "@/test/http/expectations";
import { INSTANCE_METADATA_KEY } from "@/lib/machines/gateway-config";

const ITEMS = 200;
const REPLICA_ENV = {
  FLEET_JOB_POLL_SECONDS: "1",
  FLEET_JOB_CLAIM_TTL_SECONDS: "5",
  OPERATION_LEASE_SECONDS: "4",
  FLEET_JOB_CONCURRENCY: "8",
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(label: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 60_000, diagnose?: () => Promise<string>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}: ${JSON.stringify(value)}\n${(await diagnose?.()) ?? ""}`);
    await sleep(200);
  }
}

describe.skipIf(!process.env.TEST_DATABASE_URL)("fleet-job drill: 200 items, two replicas, kill -9 and a restart mid-job (next start ×2, one machine service)", () => {
  let doomed: ApiServer;
  let survivor: ApiServer;
  let admin: SeededAccount;
  let cookie: string;
  const ids: string[] = [];

  beforeAll(async () => {
    doomed = await startApiServer({
      env: REPLICA_ENV,
      seed: async (db) => {
        admin = await seedAccount(db, { email: "jobs-admin@api.test", role: "admin" });
        const owners = await Promise.all([1, 2, 3, 4].map((n) => seedAccount(db, { email: `owner${n}@api.test` })));
        for (let n = 0; n < ITEMS; n += 1) {
          const owner = owners[n % owners.length]!.row;
          const row = await provisionInstance({ userId: owner.id, name: `drill ${n}`, actor: { type: "internal", id: "drill" } }, { db, machines: { name: "local" }, defaultRegion: "local" });
          ids.push(row.id);
        }
      },
    });
    survivor = await startApiServer({ env: REPLICA_ENV, replicaOf: doomed });
    cookie = await survivor.signIn(admin);
  }, 240_000);

  afterAll(async () => {
    // The replica first: the doomed server owns the database and the machine service.
    await survivor?.close();
    await doomed?.close();
  });

  const inspect = <T>(work: (db: Database) => Promise<T>) => doomed.inspect(work);
  const jobCounts = (jobId: string) =>
    inspect(async (db) => {
      const rows = await db.select({ state: fleetJobItems.state, attempts: fleetJobItems.attempts }).from(fleetJobItems).where(eq(fleetJobItems.jobId, jobId));
      const counts: Record<string, number> = {};
      for (const row of rows) counts[row.state] = (counts[row.state] ?? 0) + 1;
      return { ...counts, retried: rows.filter((row) => row.attempts > 1).length } as Record<string, number>;
    });
  /** What the unfinished items' instances are doing, and the survivor's last words. */
  const stuckItems = (jobId: string) =>
    inspect(async (db) => {
      const open = await db
        .select({ item: fleetJobItems, instance: instances })
        .from(fleetJobItems)
        .innerJoin(instances, eq(instances.id, fleetJobItems.targetId))
        .where(and(eq(fleetJobItems.jobId, jobId), inArray(fleetJobItems.state, ["pending", "running"])));
      const events = await db.select().from(instanceEvents).where(inArray(instanceEvents.instanceId, open.map((row) => row.instance.id)));
      // The machine service's side of each stuck instance: its machine now and every call made to it.
      const machines = await Promise.all(
        open.map(async ({ instance }) => {
          if (!instance.machineId) return { instanceId: instance.id, machine: null };
          const machine = await survivor.machines.supervisor.get(instance.machineId).catch((error: unknown) => String(error));
          const version = typeof machine === "string" ? machine : { version: machine.version, updatedAt: machine.updatedAt };
          const record = survivor.machines.supervisor.describe(instance.machineId) ?? null;
          const calls = survivor.machines.requests.filter((request) => request.machineId === instance.machineId);
          const output = doomed.logs().split("\n").filter((line) => line.startsWith(`[machine ${instance.machineId}]`));
          return { instanceId: instance.id, machine: version, record, calls, output };
        }),
      );
      return JSON.stringify({ open, events, machines }, null, 1) + "\n" + survivor.logs().slice(-6_000);
    });
  const done = (counts: Record<string, number>) => (counts.succeeded ?? 0) + (counts.noop ?? 0) + (counts.failed ?? 0) + (counts.cancelled ?? 0);
  const machineCalls = (operationId: string) => survivor.machines.requests.filter((request) => request.operationId === operationId);

  it("finishes a 200-item start job with every item done exactly once, through a kill -9 of one replica and a restart of the other", async () => {
    const started = Date.now();
    const job = expectBody(await doomed.request("POST", "/api/admin/jobs", { cookie, body: { kind: "start", selection: { type: "instances", ids } } }), fleetJobSchema, 201);
    expect(job).toMatchObject({ state: "running", totalItems: ITEMS });

    // Both replicas' schedulers take items; the doomed one dies with its items mid-operation.
    await waitFor("a fifth of the job", () => jobCounts(job.id), (counts) => done(counts) >= ITEMS / 5 && (counts.running ?? 0) >= 8);
    process.kill(-doomed.pid, "SIGKILL");
    const killedAt = Date.now();
    while (doomed.running) await sleep(50);
    const atKill = await jobCounts(job.id);

    // The survivor goes on alone; then it is stopped and started again, mid-job.
    await waitFor("half of the job", () => jobCounts(job.id), (counts) => done(counts) >= ITEMS / 2);
    await survivor.restart();
    const restartedAt = Date.now();
    const finished = await waitFor("the job to finish", () => jobCounts(job.id), (counts) => done(counts) === ITEMS, 90_000, () => stuckItems(job.id));
    console.log(
      `fleet-job drill: ${ITEMS} starts in ${((Date.now() - started) / 1000).toFixed(1)} s; kill -9 at ${JSON.stringify(atKill)}, ` +
        `restart ${((restartedAt - killedAt) / 1000).toFixed(1)} s later; end ${JSON.stringify(finished)}`,
    );
    expect(finished).toMatchObject({ succeeded: ITEMS });
    // The dead replica's claims (and those the restart cut short) were retried.
    expect(finished.retried).toBeGreaterThan(0);
    const view = expectBody(await survivor.request("GET", `/api/admin/jobs/${job.id}?limit=500`, { cookie }), fleetJobWithItemsSchema);
    expect(view).toMatchObject({ state: "finished", counts: { succeeded: ITEMS, pending: 0, running: 0, failed: 0 } });
    expect(view.items.every((item) => item.state === "succeeded" && item.error === null)).toBe(true);

    // Audit log: exactly one successful start per instance, by the admin, naming that instance's item;
    // an attempt the kill cut short shows as an interruption, never as a second start.
    const { items, events, rows } = await inspect(async (db) => ({
      items: await db.select({ id: fleetJobItems.id, targetId: fleetJobItems.targetId }).from(fleetJobItems).where(eq(fleetJobItems.jobId, job.id)),
      events: await db.select().from(instanceEvents).where(and(inArray(instanceEvents.instanceId, ids), inArray(instanceEvents.action, ["start", "operation_interrupted"]))),
      rows: await db.select().from(instances).where(inArray(instances.id, ids)),
    }));
    const itemOf = new Map(items.map((item) => [item.targetId, item.id]));
    const starts = events.filter((event) => event.action === "start");
    const p50 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
    const timings = (["mint", "machine", "wait", "credential"] as const).map((step) => `${step} ${p50(starts.map((event) => (event.details as { timings?: Record<string, number> }).timings?.[step] ?? 0)).toFixed(0)} ms`);
    console.log(`fleet-job drill: a start takes ${p50(starts.map((event) => event.durationMs ?? 0))} ms at the median (${timings.join(", ")})`);
    expect(starts.filter((event) => event.outcome !== "success")).toEqual([]);
    expect(starts.map((event) => event.instanceId).sort()).toEqual([...ids].sort());
    for (const event of starts) {
      expect(event).toMatchObject({ actorType: "admin", actorId: admin.row.id });
      expect(event.details).toMatchObject({ fleetJobId: job.id, fleetJobItemId: itemOf.get(event.instanceId!) });
    }
    const interrupted = new Map<string, number>();
    for (const event of events.filter((event) => event.action === "operation_interrupted")) interrupted.set(event.instanceId!, (interrupted.get(event.instanceId!) ?? 0) + 1);
    expect(interrupted.size).toBeGreaterThan(0);

    // Machine service: one machine per instance, running the deployed key, created once; a machine
    // updated (or started) again belongs to an instance whose first attempt was interrupted.
    expect(rows.every((row) => row.status === "running" && row.leaseToken === null && row.deployedKeyId === row.keyId)).toBe(true);
    const creates = machineCalls("Machines_create").filter((request) => request.outcome === 200);
    expect(creates).toHaveLength(ITEMS);
    const live = await survivor.machines.supervisor.list();
    const instanceOfMachine = new Map(rows.map((row) => [row.machineId!, row.id]));
    expect(new Set(live.map((machine) => machine.config.metadata[INSTANCE_METADATA_KEY]))).toEqual(new Set(ids));
    expect(live.map((machine) => machine.id).sort()).toEqual([...instanceOfMachine.keys()].sort());
    expect(live.every((machine) => machine.state === "started")).toBe(true);
    const rewrites = new Map<string, number>();
    for (const request of [...machineCalls("Machines_update"), ...machineCalls("Machines_start"), ...machineCalls("Machines_stop")]) {
      const instanceId = instanceOfMachine.get(request.machineId!)!;
      rewrites.set(instanceId, (rewrites.get(instanceId) ?? 0) + 1);
    }
    for (const [instanceId, count] of rewrites) expect(count, `machine writes after an interruption of ${instanceId}`).toBeLessThanOrEqual(interrupted.get(instanceId) ?? 0);

    // Both replicas did part of the work: each machine's config names the replica that deployed it.
    const deployedBy = new Set(live.map((machine) => new URL(machine.config.env.FLEETDECK_WHOAMI_URL!).origin));
    expect(deployedBy).toEqual(new Set([doomed.baseUrl, survivor.baseUrl]));
  }, 180_000);

  it("pauses a stop job (nothing is claimed or called while paused), resumes it, and cancels it with its pending items", async () => {
    const job = expectBody(await survivor.request("POST", "/api/admin/jobs", { cookie, body: { kind: "stop", selection: { type: "instances", ids } } }), fleetJobSchema, 201);
    const post = (verb: string) => survivor.request("POST", `/api/admin/jobs/${job.id}/${verb}`, { cookie });

    await waitFor("the first stops", () => jobCounts(job.id), (counts) => (counts.succeeded ?? 0) >= 20);
    expect(expectBody(await post("pause"), fleetJobSchema)).toMatchObject({ state: "paused" });
    expectError(await post("pause"), 409, "invalid_state");
    // Items already running finish; then nothing moves.
    const paused = await waitFor("the running items to finish", () => jobCounts(job.id), (counts) => (counts.running ?? 0) === 0, 30_000);
    const stopsWhenPaused = machineCalls("Machines_stop").length;
    await sleep(3_000); // three polls of each replica
    expect(await jobCounts(job.id)).toEqual(paused);
    expect(machineCalls("Machines_stop")).toHaveLength(stopsWhenPaused);
    expect(stopsWhenPaused).toBe(paused.succeeded);

    expect(expectBody(await post("resume"), fleetJobSchema)).toMatchObject({ state: "running" });
    await waitFor("more stops after the resume", () => jobCounts(job.id), (counts) => (counts.succeeded ?? 0) >= paused.succeeded! + 40);
    const cancelled = expectBody(await post("cancel"), fleetJobSchema);
    expect(cancelled.state).toBe("cancelled");
    expect(cancelled.counts.cancelled).toBeGreaterThan(0);
    expect(cancelled.counts.pending).toBe(0);
    expectError(await post("resume"), 409, "invalid_state");
    expectError(await post("cancel"), 409, "invalid_state");

    // Items that were running when it was cancelled record their real outcome; the rest never ran.
    const final = await waitFor("the cancelled job to settle", () => jobCounts(job.id), (counts) => (counts.running ?? 0) === 0, 30_000);
    await sleep(2_000);
    expect(await jobCounts(job.id)).toEqual(final);
    expect(final.succeeded! + final.cancelled!).toBe(ITEMS);
    const { items, rows, stops } = await inspect(async (db) => ({
      items: await db.select({ targetId: fleetJobItems.targetId, state: fleetJobItems.state }).from(fleetJobItems).where(eq(fleetJobItems.jobId, job.id)),
      rows: await db.select({ id: instances.id, status: instances.status, machineId: instances.machineId }).from(instances).where(inArray(instances.id, ids)),
      stops: await db.select({ instanceId: instanceEvents.instanceId, details: instanceEvents.details }).from(instanceEvents).where(and(eq(instanceEvents.action, "stop"), eq(instanceEvents.outcome, "success"), inArray(instanceEvents.instanceId, ids))),
    }));
    const statusOf = new Map(rows.map((row) => [row.id, row.status]));
    const stoppedIds = items.filter((item) => item.state === "succeeded").map((item) => item.targetId).sort();
    expect(stops.map((event) => event.instanceId).sort()).toEqual(stoppedIds);
    for (const item of items) expect(statusOf.get(item.targetId)).toBe(item.state === "succeeded" ? "stopped" : "running");
    // One machine stop per stopped instance, none for the cancelled ones.
    const machineOf = new Map(rows.map((row) => [row.id, row.machineId]));
    expect(machineCalls("Machines_stop").map((request) => request.machineId).sort()).toEqual(stoppedIds.map((id) => machineOf.get(id)).sort());
  }, 120_000);
});

/**
 * `npm run bench:jobs`: fleet-job throughput. A redeploy job over N instances on the Fly fake, whose
 * machine update and machine wait each take L ms, worked by two replicas at FLEET_JOB_CONCURRENCY
 * each. On PostgreSQL each replica is a process of its own (bench/jobs/replica.ts: its own event
 * loop and pool, as in production), sharing the database and the fake, which runs here; on PGlite
 * (one process per database) both work in this process. Prints the wall time from job creation
 * until the job is finished, its ratio to the provider-bound minimum
 * N × 2 calls × L ÷ (replicas × concurrency), and the CPU each replica used. Every item must
 * succeed exactly once.
 *
 *   npm run bench:jobs -- [--instances 1000] [--latency-ms 300] [--concurrency 8] [--replicas 2] [--driver pglite|postgres]
 *
 * With --driver postgres it uses TEST_DATABASE_URL (a throwaway database is created and dropped).
 */
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import { parseArgs } from "node:util";
import { and, count, eq } from "drizzle-orm";
import type { DatabaseDriver } from "@/db/client";
import { instanceEvents } from "@/db/schema";
import { getEnv } from "@/shared/env";
import { createFleetJob, getFleetJobOrThrow } from "@/lib/fleet-jobs/jobs";
import { workFleetJobs, type FleetJobWorkSummary } from "@/lib/fleet-jobs/worker";
import { createLifecycleHarness } from "@/test/instances/harness";
import { createFlyMachineProvider } from "@/lib/machines/fly/provider";
import { startFakeFly } from "@/test/fly/fake-fly";
import type { MachineProvider } from "@/lib/machines/types";
import { seedRunningFleet, startGatewayStandIn } from "../fly-stand-in";
import type { BenchReplicaConfig, BenchReplicaMessage } from "./replica";

const { values } = parseArgs({
  options: {
    instances: { type: "string", default: "1000" },
    "latency-ms": { type: "string", default: "300" },
    concurrency: { type: "string" },
    replicas: { type: "string", default: "2" },
    driver: { type: "string", default: process.env.TEST_DATABASE_URL ? "postgres" : "pglite" },
  },
});
const total = Number(values.instances);
const latencyMs = Number(values["latency-ms"]);
const concurrency = Number(values.concurrency ?? getEnv().FLEET_JOB_CONCURRENCY);
const replicaCount = Number(values.replicas);
const driver = values.driver as DatabaseDriver;
const TARGET_RATIO = 1.3;
const CALLS_PER_REDEPLOY = 2; // update (restart with the new key), then wait until started

async function main() {
  console.log(
    `bench:jobs — Node ${process.version}, redeploy job over ${total} instances, ${latencyMs} ms per machine call, ${replicaCount} replicas × concurrency ${concurrency}, ${driver}`,
  );
  const fake = await startFakeFly({ transitionMs: 0 });
  const standIn = await startGatewayStandIn(fake);
  const fly = createFlyMachineProvider({ token: fake.token, app: fake.app, apiHostname: fake.url });
  const machines: MachineProvider = Object.assign(Object.create(fly) as MachineProvider, {
    gatewayUrl: (machine: { id: string }) => `${standIn.url}/m/${machine.id}`,
  });
  const harness = await createLifecycleHarness(driver, { machines });
  const children: ChildProcess[] = [];
  try {
    const owner = await harness.createUser();
    const admin = await harness.createUser();
    await seedRunningFleet({ fly, db: harness.database.db, ownerId: owner.id, count: total });

    fake.inject("Machines_update", { type: "delay", ms: latencyMs }, total);
    fake.inject("Machines_wait", { type: "delay", ms: latencyMs }, total);
    const { deps } = harness;
    const replicas = harness.database.url
      ? await startReplicaProcesses({
          databaseUrl: harness.database.url,
          keyRingSecret: deps.keyRing!.current,
          encryptionKeyHex: deps.encryptionKey.toString("hex"),
          gatewayTokenSecret: deps.gatewayTokenSecret,
          whoamiUrl: deps.whoamiUrl,
          fly: { url: fake.url, token: fake.token, app: fake.app },
          standInUrl: standIn.url,
          concurrency,
        })
      : undefined;
    children.push(...(replicas?.children ?? []));

    const started = performance.now();
    const job = await createFleetJob(harness.database.db, { kind: "redeploy", selection: { type: "filter", filter: {}, sort: "lastActivityAt", order: "asc" } }, admin, new Date());
    const createdMs = performance.now() - started;
    const results = replicas
      ? await replicas.go()
      : await Promise.all(
          Array.from({ length: replicaCount }, () => workFleetJobs({ concurrency, claimTtlMs: 60_000, busyRetryMs: 1_000 }, { ...deps, revokeKeys: async () => {} }).then((summary) => ({ summary, cpuMs: NaN }))),
        );
    const summaries = results.map((result) => result.summary);
    const wallMs = performance.now() - started;

    const finished = await getFleetJobOrThrow(harness.database.db, job.id);
    const [redeploys] = await harness.database.db
      .select({ value: count() })
      .from(instanceEvents)
      .where(and(eq(instanceEvents.action, "redeploy"), eq(instanceEvents.outcome, "success")));
    const boundMs = (total * CALLS_PER_REDEPLOY * latencyMs) / (replicaCount * concurrency);
    const ratio = wallMs / boundMs;
    console.log(`  job created (filter resolved to ${finished.totalItems} items) in ${createdMs.toFixed(0)} ms; state ${finished.state}, counts ${JSON.stringify(finished.counts)}`);
    console.log(`  items per replica: ${summaries.map((summary) => summary.succeeded).join(" + ")}; successful redeploy events: ${redeploys?.value ?? 0}`);
    console.log(
      replicas
        ? `  replicas as processes of their own; CPU per replica: ${results.map((result) => `${(result.cpuMs / 1000).toFixed(1)} s`).join(", ")} (${((results.reduce((sum, result) => sum + result.cpuMs, 0) / total)).toFixed(1)} ms per item)`
        : "  replicas in this process (PGlite)",
    );
    console.log(`  wall time from creation to finished: ${(wallMs / 1000).toFixed(1)} s`);
    console.log(`  provider-bound minimum (${total} × ${CALLS_PER_REDEPLOY} × ${latencyMs} ms ÷ (${replicaCount} × ${concurrency})): ${(boundMs / 1000).toFixed(1)} s`);
    console.log(`  ratio: ${ratio.toFixed(2)}× (target ≤ ${TARGET_RATIO}×) ${ratio <= TARGET_RATIO ? "(met)" : "(missed)"}`);
    const events = await harness.database.db.select({ details: instanceEvents.details, durationMs: instanceEvents.durationMs }).from(instanceEvents).where(eq(instanceEvents.action, "redeploy"));
    const p50 = (samples: number[]) => [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)] ?? NaN;
    const perStep = (["mint", "persist", "machine", "wait", "credential"] as const).map(
      (step) => `${step} ${p50(events.map((event) => (event.details as { timings?: Record<string, number> }).timings?.[step] ?? 0)).toFixed(0)} ms`,
    );
    console.log(`  per redeploy, p50: total ${p50(events.map((event) => event.durationMs ?? 0)).toFixed(0)} ms (${perStep.join(", ")})`);
    if (finished.state !== "finished" || finished.counts.succeeded !== total || redeploys?.value !== total) process.exitCode = 1;
  } finally {
    for (const child of children) child.kill();
    await harness.close();
    await standIn.close();
    await fake.close();
  }
}

/** Forks the replicas and waits until each has its database open; `go` starts them all at once and collects their summaries. */
async function startReplicaProcesses(config: BenchReplicaConfig) {
  const script = path.join(import.meta.dirname, "replica.ts");
  const children = Array.from({ length: replicaCount }, () => fork(script, [], { execArgv: ["--import", "tsx", "--conditions=react-server"], stdio: "inherit" }));
  const next = (child: ChildProcess) =>
    new Promise<BenchReplicaMessage>((resolve, reject) => {
      child.once("message", (message) => resolve(message as BenchReplicaMessage));
      child.once("exit", (code) => reject(new Error(`a bench replica exited (${code})`)));
    });
  const ready = children.map(next);
  for (const child of children) child.send(config);
  await Promise.all(ready);
  return {
    children,
    async go(): Promise<{ summary: FleetJobWorkSummary; cpuMs: number }[]> {
      const done = children.map(next);
      for (const child of children) child.send("go");
      return (await Promise.all(done)).map((message) => {
        if (message.type !== "done") throw new Error("a bench replica answered out of turn");
        return { summary: message.summary, cpuMs: message.cpuMs };
      });
    },
  };
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

/**
 * One replica of `npm run bench:jobs`, in its own process as in production: its own event loop and
 * database pool, the shared PostgreSQL and the shared Fly fake. Started by bench/jobs/run.ts over
 * IPC: it gets its configuration, opens the database, answers "ready", and on "go" works fleet
 * jobs until none has a claimable item, then sends its summary and exits.
 */
import { openDatabase } from "@/db/client";
import { DEFAULT_TIMEOUTS, type LifecycleDeps } from "@/lib/instances/deps";
import { workFleetJobs, type FleetJobWorkSummary } from "@/lib/fleet-jobs/worker";
import { createFlyMachineProvider } from "@/lib/machines/fly/provider";
import type { MachineProvider } from "@/lib/machines/types";

/** What the parent hands each replica (secrets as the harness made them, so every replica mints alike). */
export interface BenchReplicaConfig {
  databaseUrl: string;
  keyRingSecret: string;
  encryptionKeyHex: string;
  gatewayTokenSecret: string;
  whoamiUrl: string;
  fly: { url: string; token: string; app: string };
  standInUrl: string;
  concurrency: number;
}

export type BenchReplicaMessage = { type: "ready" } | { type: "done"; summary: FleetJobWorkSummary; cpuMs: number };

async function main() {
  const config = await new Promise<BenchReplicaConfig>((resolve) => process.once("message", (message) => resolve(message as BenchReplicaConfig)));
  const handle = await openDatabase({ url: config.databaseUrl, driver: "postgres" });
  const fly = createFlyMachineProvider({ token: config.fly.token, app: config.fly.app, apiHostname: config.fly.url });
  const machines: MachineProvider = Object.assign(Object.create(fly) as MachineProvider, {
    gatewayUrl: (machine: { id: string }) => `${config.standInUrl}/m/${machine.id}`,
  });
  const deps: LifecycleDeps = {
    db: handle.db,
    machines,
    keyRing: { current: config.keyRingSecret, previous: [] },
    encryptionKey: Buffer.from(config.encryptionKeyHex, "hex"),
    gatewayTokenSecret: config.gatewayTokenSecret,
    whoamiUrl: config.whoamiUrl,
    image: "registry.fly.io/fleetdeck-gateway:latest",
    defaultRegion: "iad",
    fallbackMinRemainingMs: 60 * 60_000,
    refreshConcurrency: 8,
    now: () => new Date(),
    timeouts: { ...DEFAULT_TIMEOUTS, machineWaitMs: 20_000, credentialMs: 10_000 },
    reconcileIntervalMs: 0,
    gatewayKeyCheckIntervalMs: 300,
  };
  const send = (message: BenchReplicaMessage) => new Promise<void>((resolve) => process.send!(message, () => resolve()));
  const go = new Promise<void>((resolve) => process.once("message", () => resolve()));
  await send({ type: "ready" });
  await go;
  const cpuBefore = process.cpuUsage();
  const summary = await workFleetJobs({ concurrency: config.concurrency, claimTtlMs: 60_000, busyRetryMs: 1_000 }, { ...deps, revokeKeys: async () => {} });
  const cpu = process.cpuUsage(cpuBefore);
  await send({ type: "done", summary, cpuMs: (cpu.user + cpu.system) / 1000 });
  await handle.close();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

/**
 * `npm run bench:lifecycle`: N redeploys on the local provider (real gateway processes) and on the
 * Fly fake with zero added latency, each split into mint, persist, machine calls, wait and
 * credential check, as recorded on the audit events. The control plane's own share is everything
 * but waiting on the machine (total − wait − credential, and also without the machine calls).
 *
 *   npm run bench:lifecycle -- [--redeploys 40] [--driver pglite|postgres]
 *
 * With --driver postgres it uses TEST_DATABASE_URL (a throwaway database is created and dropped).
 */
import { parseArgs } from "node:util";
import { and, asc, eq } from "drizzle-orm";
import type { DatabaseDriver } from "@/db/client";
import { instanceEvents } from "@/db/schema";
import { createFlyMachineProvider } from "@/lib/machines/fly/provider";
import { startFakeFly } from "@/test/fly/fake-fly";
import type { MachineProvider } from "@/lib/machines/types";
import { redeployInstance } from "@/lib/instances/redeploy";
import { startInstance } from "@/lib/instances/start";
import { createLifecycleHarness, type LifecycleHarness } from "@/test/instances/harness";
import { startGatewayStandIn } from "../fly-stand-in";

const { values } = parseArgs({
  options: {
    redeploys: { type: "string", default: "40" },
    driver: { type: "string", default: process.env.TEST_DATABASE_URL ? "postgres" : "pglite" },
  },
});
const redeploys = Number(values.redeploys);
const driver = values.driver as DatabaseDriver;
const TARGET_P50_MS = 10;

type Step = "mint" | "persist" | "machine" | "wait" | "credential";
const STEPS: Step[] = ["mint", "persist", "machine", "wait", "credential"];

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summarise(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95) };
}

async function runScenario(label: string, harness: LifecycleHarness) {
  const owner = await harness.createUser();
  const row = await harness.provision(owner.id);
  const actor = { type: "user" as const, id: owner.id };
  await startInstance({ instanceId: row.id, actor }, harness.deps);
  // Warm-up: first-use costs (JIT, connection set-up) are not what we measure.
  for (let i = 0; i < 3; i++) await redeployInstance({ instanceId: row.id, actor }, harness.deps);

  const wall: number[] = [];
  for (let i = 0; i < redeploys; i++) {
    const started = performance.now();
    await redeployInstance({ instanceId: row.id, actor }, harness.deps);
    wall.push(performance.now() - started);
  }
  const events = (
    await harness.database.db
      .select()
      .from(instanceEvents)
      .where(and(eq(instanceEvents.instanceId, row.id), eq(instanceEvents.action, "redeploy")))
      .orderBy(asc(instanceEvents.id))
  ).slice(-redeploys);

  const perStep = Object.fromEntries(STEPS.map((step) => [step, [] as number[]])) as Record<Step, number[]>;
  const own: number[] = [];
  const ownWithoutMachineCalls: number[] = [];
  events.forEach((event, index) => {
    const timings = ((event.details ?? {}) as { timings?: Partial<Record<Step, number>> }).timings ?? {};
    for (const step of STEPS) perStep[step].push(timings[step] ?? 0);
    const total = wall[index]!;
    const waiting = (timings.wait ?? 0) + (timings.credential ?? 0);
    own.push(total - waiting);
    ownWithoutMachineCalls.push(total - waiting - (timings.machine ?? 0));
  });

  const fmt = (ms: number) => ms.toFixed(2).padStart(8);
  console.log(`\n${label} — ${redeploys} redeploys on ${driver}`);
  console.log(`  ${"step".padEnd(34)}${"p50 ms".padStart(8)}${"p95 ms".padStart(8)}`);
  for (const step of STEPS) {
    const { p50, p95 } = summarise(perStep[step]);
    console.log(`  ${step.padEnd(34)}${fmt(p50)}${fmt(p95)}`);
  }
  const rows: [string, number[]][] = [
    ["total (wall clock)", wall],
    ["control plane (total − wait − credential)", own],
    ["control plane without machine calls", ownWithoutMachineCalls],
  ];
  for (const [name, samples] of rows) {
    const { p50, p95 } = summarise(samples);
    console.log(`  ${name.padEnd(34)}${fmt(p50)}${fmt(p95)}`);
  }
  const ownP50 = summarise(ownWithoutMachineCalls).p50;
  console.log(`  control-plane p50 vs ${TARGET_P50_MS} ms target: ${(ownP50 / TARGET_P50_MS).toFixed(2)}× ${ownP50 <= TARGET_P50_MS ? "(met)" : "(missed)"}`);
  return ownP50;
}

async function main() {
  console.log(`bench:lifecycle — Node ${process.version}, ${redeploys} redeploys per provider`);
  const local = await createLifecycleHarness(driver);
  try {
    await runScenario("local provider (real gateway processes)", local);
  } finally {
    await local.close();
  }

  const fake = await startFakeFly({ transitionMs: 0 });
  const standIn = await startGatewayStandIn(fake);
  const fly = createFlyMachineProvider({ token: fake.token, app: fake.app, apiHostname: fake.url });
  const flyWithStandIn: MachineProvider = Object.assign(Object.create(fly) as MachineProvider, {
    gatewayUrl: (machine: { id: string }) => `${standIn.url}/m/${machine.id}`,
  });
  const flyHarness = await createLifecycleHarness(driver, { machines: flyWithStandIn });
  try {
    await runScenario("fly provider against the Fly fake (zero added latency)", flyHarness);
  } finally {
    await flyHarness.close();
    await standIn.close();
    await fake.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

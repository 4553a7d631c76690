/**
 * `npm run bench:rekey`: how fast the fleet moves to a new NEXTAUTH_SECRET. N running instances on
 * the Fly fake, whose machine update and gateway key push each take L ms; the signing secret is
 * rotated (the old one kept as previous) and one scheduler pass runs with the default settings.
 * Prints the wall time until every instance runs a key under the new secret, and its ratio to the
 * provider-bound minimum: N × (update + push) ÷ REFRESH_CONCURRENCY.
 *
 *   npm run bench:rekey -- [--instances 1000] [--latency-ms 300] [--concurrency 32] [--driver pglite|postgres]
 *
 * With --driver postgres it uses TEST_DATABASE_URL (a throwaway database is created and dropped).
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { count, eq } from "drizzle-orm";
import type { DatabaseDriver } from "@/db/client";
import { instanceEvents, instances } from "@/db/schema";
import { getEnv } from "@/shared/env";
import { refreshDueInstances } from "@/lib/instances/refresh";
import { createLifecycleHarness, HARNESS_SECRET } from "@/test/instances/harness";
import { createFlyMachineProvider } from "@/lib/machines/fly/provider";
import { startFakeFly } from "@/test/fly/fake-fly";
import type { MachineProvider } from "@/lib/machines/types";
import { signingKeyIdOf } from "@/lib/tokens/key-ring";
import { seedRunningFleet, startGatewayStandIn } from "../fly-stand-in";

const { values } = parseArgs({
  options: {
    instances: { type: "string", default: "1000" },
    "latency-ms": { type: "string", default: "300" },
    concurrency: { type: "string" },
    driver: { type: "string", default: process.env.TEST_DATABASE_URL ? "postgres" : "pglite" },
  },
});
const total = Number(values.instances);
const latencyMs = Number(values["latency-ms"]);
const concurrency = Number(values.concurrency ?? getEnv().REFRESH_CONCURRENCY);
const driver = values.driver as DatabaseDriver;
const TARGET_RATIO = 1.3;
const TARGET_SECONDS_AT_10K = 300;

async function main() {
  console.log(`bench:rekey — Node ${process.version}, ${total} running instances, ${latencyMs} ms per machine update and per key push, concurrency ${concurrency}, ${driver}`);
  const fake = await startFakeFly({ transitionMs: 0 });
  const standIn = await startGatewayStandIn(fake, { pushLatencyMs: latencyMs });
  const fly = createFlyMachineProvider({ token: fake.token, app: fake.app, apiHostname: fake.url });
  const machines: MachineProvider = Object.assign(Object.create(fly) as MachineProvider, {
    gatewayUrl: (machine: { id: string }) => `${standIn.url}/m/${machine.id}`,
  });
  const harness = await createLifecycleHarness(driver, { machines, overrides: { refreshConcurrency: concurrency } });
  try {
    // The fleet as the old secret left it: running machines whose deployed key it signed.
    const owner = await harness.createUser();
    const oldKid = signingKeyIdOf(HARNESS_SECRET);
    const expiresAt = new Date(Date.now() + 20 * 24 * 3_600_000);
    await seedRunningFleet({
      fly,
      db: harness.database.db,
      ownerId: owner.id,
      count: total,
      keyValues: { keyJti: null, keySigningKid: oldKid, keyExpiresAt: expiresAt, deployedKeySigningKid: oldKid, deployedKeyExpiresAt: expiresAt },
    });

    fake.inject("Machines_update", { type: "delay", ms: latencyMs }, total);
    const newSecret = randomBytes(32).toString("hex");
    harness.deps.keyRing = { current: newSecret, previous: [HARNESS_SECRET] };

    const started = performance.now();
    const pass = await refreshDueInstances({}, harness.deps);
    const wallMs = performance.now() - started;

    const [onNew] = await harness.database.db
      .select({ value: count() })
      .from(instances)
      .where(eq(instances.deployedKeySigningKid, signingKeyIdOf(newSecret)));
    const newKid = signingKeyIdOf(newSecret);
    const pushedUnderNew = [...standIn.pushed.values()].filter((key) => JSON.parse(Buffer.from(key.split(".")[0]!, "base64url").toString()).kid === newKid).length;
    const boundMs = (total * 2 * latencyMs) / concurrency;
    const ratio = wallMs / boundMs;

    console.log(`  refreshed ${pass.refreshed}, failed ${pass.failed}; ${onNew?.value ?? 0} deployed keys and ${pushedUnderNew} live gateway keys under the new secret`);
    console.log(`  wall time until every instance runs a key under the new secret: ${(wallMs / 1000).toFixed(1)} s`);
    console.log(`  provider-bound minimum (${total} × ${2 * latencyMs} ms ÷ ${concurrency}): ${(boundMs / 1000).toFixed(1)} s`);
    console.log(`  ratio: ${ratio.toFixed(2)}× (target ≤ ${TARGET_RATIO}×) ${ratio <= TARGET_RATIO ? "(met)" : "(missed)"}`);
    console.log(`  throughput: ${(total / (wallMs / 1000)).toFixed(1)} instances/s; 10,000 instances at this rate: ${((10_000 / total) * wallMs / 1000).toFixed(0)} s (target < ${TARGET_SECONDS_AT_10K} s)`);
    const events = await harness.database.db.select({ details: instanceEvents.details, durationMs: instanceEvents.durationMs }).from(instanceEvents).where(eq(instanceEvents.action, "refresh"));
    const p50 = (samples: number[]) => [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)] ?? NaN;
    const steps = ["mint", "persist", "machine", "credential"] as const;
    const perStep = steps.map((step) => `${step} ${p50(events.map((event) => ((event.details as { timings?: Record<string, number> }).timings?.[step] ?? 0))).toFixed(0)} ms`);
    console.log(`  per refresh, p50: total ${p50(events.map((event) => event.durationMs ?? 0)).toFixed(0)} ms (${perStep.join(", ")})`);
    if (pass.failed > 0 || onNew?.value !== total || pushedUnderNew !== total) process.exitCode = 1;
  } finally {
    await harness.close();
    await standIn.close();
    await fake.close();
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

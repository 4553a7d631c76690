/**
 * Sign-in flood benchmark: how long key mints take while 50 bad sign-ins run at once, with the
 * password-hash bound in force (lib/auth/password.ts) and, for comparison, without it. Each bad
 * sign-in is the real authorizeCredentials (throttle slot in the database, then a full-cost scrypt
 * check), from its own address, so the per-IP throttle does not stop the flood before the hash —
 * the hardest case for the bound. The mints are the real mintApiKey (pepper read, HS256 signing),
 * in the same process, as in the app.
 *
 *   npx tsx --conditions=react-server bench/sign-in/run.ts [--seconds 8] [--flood 50]
 *
 * With TEST_DATABASE_URL it runs on a throwaway PostgreSQL database (as production does); without
 * it on in-memory PGlite, whose single connection also queues the mints behind the flood's queries.
 * Target: mint p95 < 1 s under the flood with the bound.
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { users } from "@/db/schema";
import { createTestDatabase } from "@/test/db";
import { authorizeCredentials } from "@/lib/auth/options";
import { HASH_CONCURRENCY, hashPassword, setHashConcurrencyForBench } from "@/lib/auth/password";
import { PEER_ADDRESS_HEADER } from "@/lib/http/peer-address";
import { mintApiKey } from "@/lib/keys/mint";

const TARGET_P95_MS = 1_000;

interface PhaseResult {
  label: string;
  mints: number[];
  checked: number;
  refused: number;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function main() {
  const { values } = parseArgs({ options: { seconds: { type: "string", default: "8" }, flood: { type: "string", default: "50" } } });
  // Thousands of "sign-in failed" lines would bury the figures.
  process.env.FLEETDECK_LOG_LEVEL ??= "silent";
  const seconds = Number(values.seconds);
  const flood = Number(values.flood);
  const driver = process.env.TEST_DATABASE_URL ? "postgres" : "pglite";
  const database = await createTestDatabase(driver);
  const secret = randomBytes(32).toString("hex");
  const [user] = await database.db.insert(users).values({ email: "minter@bench.test", passwordHash: await hashPassword("bench-password-1") }).returning();
  const instanceId = crypto.randomUUID();
  let address = 0;

  async function phase(label: string, concurrency: number | undefined): Promise<PhaseResult> {
    if (concurrency !== undefined) setHashConcurrencyForBench(concurrency);
    const deadline = performance.now() + seconds * 1000;
    const result: PhaseResult = { label, mints: [], checked: 0, refused: 0 };
    const attacker = async () => {
      while (performance.now() < deadline) {
        address++;
        const headers = { [PEER_ADDRESS_HEADER]: `10.${(address >> 16) & 255}.${(address >> 8) & 255}.${address & 255}` };
        try {
          await authorizeCredentials(database.db, { email: `guess${address}@bench.test`, password: "wrong-password" }, headers);
          result.checked++;
        } catch {
          result.refused++;
          // A refused attempt costs the attacker a round trip; without one they would spin here.
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
    };
    const minter = async () => {
      while (performance.now() < deadline) {
        const started = performance.now();
        await mintApiKey({ userId: user!.id, instanceId }, { db: database.db, secret });
        result.mints.push(performance.now() - started);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    await Promise.all([minter(), ...Array.from({ length: concurrency === undefined ? 0 : flood }, attacker)]);
    return result;
  }

  try {
    // Warm up: the dummy hash, jose's key import, the database's plans.
    await authorizeCredentials(database.db, { email: "warm@bench.test", password: "x" }, { [PEER_ADDRESS_HEADER]: "192.0.2.1" });
    await mintApiKey({ userId: user!.id, instanceId }, { db: database.db, secret });

    const results = [
      await phase("no flood", undefined),
      await phase(`${flood} bad sign-ins, hashing unbounded`, Number.POSITIVE_INFINITY),
      await phase(`${flood} bad sign-ins, hashing bounded to ${HASH_CONCURRENCY}`, HASH_CONCURRENCY),
    ];
    console.log(`sign-in flood benchmark (${driver}, ${seconds} s per phase, libuv pool ${process.env.UV_THREADPOOL_SIZE ?? 4} threads)`);
    console.log("phase".padEnd(46), "mints", "p50 ms".padStart(8), "p95 ms".padStart(8), "max ms".padStart(8), "sign-ins checked/refused".padStart(26));
    for (const { label, mints, checked, refused } of results) {
      console.log(
        label.padEnd(46),
        String(mints.length).padStart(5),
        percentile(mints, 50).toFixed(1).padStart(8),
        percentile(mints, 95).toFixed(1).padStart(8),
        Math.max(...mints).toFixed(1).padStart(8),
        `${checked}/${refused}`.padStart(26),
      );
    }
    const unbounded = percentile(results[1]!.mints, 95);
    const bounded = percentile(results[2]!.mints, 95);
    console.log(`mint p95, unbounded ÷ bounded: ${(unbounded / bounded).toFixed(1)}×`);
    console.log(`target: mint p95 < ${TARGET_P95_MS} ms under the flood with the bound — ${bounded < TARGET_P95_MS ? "met" : "NOT met"} (${bounded.toFixed(0)} ms)`);
    if (bounded >= TARGET_P95_MS) process.exitCode = 1;
  } finally {
    await database.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

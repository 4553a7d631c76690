/**
 * Token benchmark: sign/verify ops/s for lib/tokens against plain jose and jsonwebtoken, the
 * whoami hot path in-process, and `GET /api/gateway/whoami` requests/s against the trivial
 * `GET /api/health` in the same production server, printed as ratios (target: whoami ≥ 0.9×).
 *
 *   npx tsx --conditions=react-server bench/tokens/run.ts [--seconds 10] [--connections 10] [--micro-seconds 2] [--build] [--skip-server]
 *
 * The server part needs a production build (`next build`, or pass --build). It seeds a user, an
 * instance and a key into a fresh temporary PGlite directory *before* starting `next start` on a
 * loopback port, because two processes must never open one PGlite directory. The key is never printed.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import autocannon from "autocannon";
import { jwtVerify, SignJWT } from "jose";
import jwt from "jsonwebtoken";
import { openDatabase } from "@/db/client";
import { applyMigrations } from "@/db/migrate";
import { instances, users } from "@/db/schema";
import { authenticateInstanceKey } from "@/lib/keys/authenticate";
import { KeyStateCache } from "@/lib/keys/key-state-cache";
import { storeMintedKey } from "@/lib/keys/store-key";
import { mintApiKey } from "@/lib/keys/mint";
import { KILO_TOKEN_VERSION, signKiloToken, verifyKiloToken } from "@/lib/tokens/kilo-token";
import { freeLoopbackPort } from "@/test/free-port";
import { stopServer, waitForServer } from "../next-server";

const TARGET_RATIO = 0.9;

interface Options {
  seconds: number;
  connections: number;
  microSeconds: number;
  build: boolean;
  skipServer: boolean;
}

function parseOptions(argv: string[]): Options {
  const value = (name: string, fallback: number) => {
    const index = argv.indexOf(`--${name}`);
    const parsed = index >= 0 ? Number(argv[index + 1]) : fallback;
    if (!Number.isFinite(parsed) || parsed <= 0) throw new Error(`--${name} needs a positive number`);
    return parsed;
  };
  return {
    seconds: Math.min(value("seconds", 10), 60),
    connections: Math.min(value("connections", 10), 200),
    microSeconds: Math.min(value("micro-seconds", 2), 30),
    build: argv.includes("--build"),
    skipServer: argv.includes("--skip-server"),
  };
}

/** Runs `operation` back to back for `seconds` after a short warm-up; returns operations per second. */
async function opsPerSecond(operation: () => unknown, seconds: number): Promise<number> {
  const warmUntil = performance.now() + 300;
  while (performance.now() < warmUntil) await operation();
  let count = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  while (performance.now() < until) {
    for (let i = 0; i < 50; i += 1) await operation();
    count += 50;
  }
  return count / ((performance.now() - started) / 1000);
}

const format = (value: number) => Math.round(value).toLocaleString("en-US");

async function microBenchmarks(options: Options): Promise<void> {
  const secret = randomBytes(32).toString("hex");
  const secretBytes = new TextEncoder().encode(secret);
  const userId = "3f0c2a4e-8a57-4a8e-9d67-1b7d2f7f3a10";
  const instanceId = "b5a7e1c2-4d3f-4e8a-9c1b-2a3d4e5f6a7b";
  const pepper = randomBytes(24).toString("hex");
  const payload = { kiloUserId: userId, apiTokenPepper: pepper, version: KILO_TOKEN_VERSION, instanceId };
  const jti = randomUUID();
  const { token } = await signKiloToken({ userId, pepper, secret, expiresInSeconds: 3600, extra: { instanceId, jti } });

  const seconds = options.microSeconds;
  const rows: [string, number, number][] = [];
  const sign = {
    fleetdeck: await opsPerSecond(() => signKiloToken({ userId, pepper, secret, expiresInSeconds: 3600, extra: { instanceId } }), seconds),
    jose: await opsPerSecond(() => new SignJWT(payload).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setIssuedAt().setExpirationTime("1h").sign(secretBytes), seconds),
    jsonwebtoken: await opsPerSecond(() => jwt.sign(payload, secret, { algorithm: "HS256", expiresIn: 3600 }), seconds),
  };
  const verify = {
    fleetdeck: await opsPerSecond(async () => {
      if (!(await verifyKiloToken(token, secret)).ok) throw new Error("verify failed");
    }, seconds),
    jose: await opsPerSecond(() => jwtVerify(token, secretBytes, { algorithms: ["HS256"] }), seconds),
    jsonwebtoken: await opsPerSecond(() => jwt.verify(token, secret, { algorithms: ["HS256"] }), seconds),
  };
  for (const [name, results] of [["sign", sign], ["verify", verify]] as const) {
    for (const [library, ops] of Object.entries(results)) rows.push([`${name} ${library}`, ops, ops / results.jose]);
  }
  // The whoami decision with a warm cache: what the route adds on top of Next itself.
  const cache = new KeyStateCache({
    currentPepper: async () => pepper,
    instanceState: async () => ({ ownerId: userId, destroyed: false, currentJtis: [jti], currentKeyIds: [] }),
  });
  const hotPath = await opsPerSecond(() => authenticateInstanceKey(token, { keyRing: { current: secret, previous: [] }, cache }), seconds);
  rows.push(["whoami decision, warm cache", hotPath, hotPath / verify.jose]);

  console.log("\nIn-process (ops/s, ratio against plain jose):");
  for (const [name, ops, ratio] of rows) console.log(`  ${name.padEnd(30)} ${format(ops).padStart(10)}  ${ratio.toFixed(2)}×`);
}

/** Seeds a user, an instance and a freshly minted key into a new PGlite directory, then closes it. */
async function seed(pgliteDir: string, secret: string): Promise<string> {
  const handle = await openDatabase({ pgliteDir });
  try {
    await applyMigrations(handle);
    const [user] = await handle.db.insert(users).values({ email: "bench@fleetdeck.local" }).returning();
    const [instance] = await handle.db
      .insert(instances)
      .values({ ownerId: user!.id, name: "bench", provider: "local", region: "local", imageTag: "latest", status: "running" })
      .returning();
    const key = await mintApiKey({ userId: user!.id, instanceId: instance!.id }, { db: handle.db, secret });
    // whoami accepts only an instance's current keys: record it as the latest, as an operation does.
    await storeMintedKey(key, { db: handle.db, encryptionKey: randomBytes(32) });
    return key.token;
  } finally {
    await handle.close();
  }
}

async function load(url: string, options: Options, headers: Record<string, string> = {}): Promise<number> {
  const result = await autocannon({ url, connections: options.connections, duration: options.seconds, headers });
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`);
  }
  return result.requests.average;
}

async function serverBenchmark(options: Options): Promise<number | undefined> {
  const root = process.cwd();
  if (options.build) {
    const build = spawnSync(path.join(root, "node_modules/.bin/next"), ["build"], { stdio: "inherit", env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" } });
    if (build.status !== 0) throw new Error("next build failed");
  }
  if (!existsSync(path.join(root, process.env.NEXT_DIST_DIR || ".next", "BUILD_ID"))) {
    console.log("\nServer benchmark skipped: no production build (run `next build`, or pass --build).");
    return undefined;
  }

  const workDir = mkdtempSync(path.join(tmpdir(), "fleetdeck-bench-"));
  const pgliteDir = path.join(workDir, "pglite");
  const secret = randomBytes(32).toString("hex");
  const token = await seed(pgliteDir, secret);
  const port = await freeLoopbackPort();
  const base = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: "production",
    DATABASE_DRIVER: "pglite",
    PGLITE_DIR: pgliteDir,
    NEXTAUTH_SECRET: secret,
    NEXTAUTH_URL: base,
    NEXT_TELEMETRY_DISABLED: "1",
  };
  delete env.DATABASE_URL;
  delete env.KILO_TOKEN_ENV;
  // Its own process group, so stopping it cannot leave a next-server child behind.
  const child = spawn(path.join(root, "node_modules/.bin/next"), ["start", "-p", String(port), "-H", "127.0.0.1"], {
    env,
    detached: true,
    stdio: ["ignore", "ignore", "inherit"],
  });
  try {
    await waitForServer(`${base}/api/health`, child, 60_000);
    const check = await fetch(`${base}/api/gateway/whoami`, { headers: { authorization: `Bearer ${token}` } });
    if (check.status !== 200) throw new Error(`whoami answered ${check.status}: ${await check.text()}`);

    const whoamiHeaders = { authorization: `Bearer ${token}` };
    const warm = { ...options, seconds: 3 };
    await load(`${base}/api/health`, warm);
    await load(`${base}/api/gateway/whoami`, warm, whoamiHeaders);

    // Alternate the two so drift (thermal, GC, JIT) hits both alike.
    const health: number[] = [];
    const whoami: number[] = [];
    for (let round = 0; round < 2; round += 1) {
      health.push(await load(`${base}/api/health`, options));
      whoami.push(await load(`${base}/api/gateway/whoami`, options, whoamiHeaders));
    }
    const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
    const ratio = mean(whoami) / mean(health);
    console.log(`\nProduction server, ${options.connections} connections, 2 × ${options.seconds} s each (requests/s):`);
    console.log(`  GET /api/health             ${format(mean(health)).padStart(8)}   (${health.map(format).join(", ")})`);
    console.log(`  GET /api/gateway/whoami     ${format(mean(whoami)).padStart(8)}   (${whoami.map(format).join(", ")})`);
    console.log(`  whoami / health             ${ratio.toFixed(2)}×   target ≥ ${TARGET_RATIO}× → ${ratio >= TARGET_RATIO ? "met" : "MISSED"}`);
    return ratio;
  } finally {
    await stopServer(child);
    rmSync(workDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  await microBenchmarks(options);
  if (options.skipServer) return;
  const ratio = await serverBenchmark(options);
  if (ratio !== undefined && ratio < TARGET_RATIO) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});

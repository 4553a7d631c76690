/**
 * `npm run dev`: sets up the embedded defaults on first run (random secrets in .env.local, a
 * migrated PGlite database under .data/, demo users), makes sure the local machine service runs
 * (reusing one that does, so instances survive an app restart) and then runs `next dev`.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { appendFileSync, chmodSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { openDatabase } from "@/db/client";
import { applyMigrations } from "@/db/migrate";
import { seedDemoUsersIfEmpty } from "@/lib/demo/seed";
import { parseEnv } from "@/shared/env";
import { loadLocalEnv } from "./load-env";

const ENV_FILE = ".env.local";
const CREDENTIALS_FILE = path.join(".data", "demo-credentials.json");
const MACHINES_STATE_FILE = path.join(".data", "machines", "service.json");
const MACHINES_LOG_FILE = path.join(".data", "machines", "service.log");
const port = process.env.PORT ?? "3000";

/** Secrets for the embedded default only; production must configure its own and gets none. */
function ensureLocalSecrets(): void {
  const current = existsSync(ENV_FILE) ? readFileSync(ENV_FILE, "utf8") : "";
  const has = (name: string) => new RegExp(`^${name}=`, "m").test(current) || process.env[name];
  const generated: Record<string, string> = {
    NEXTAUTH_SECRET: randomBytes(32).toString("hex"),
    INTERNAL_API_SECRET: randomBytes(32).toString("hex"),
    CRON_SECRET: randomBytes(32).toString("hex"),
    KEY_ENCRYPTION_KEY: randomBytes(32).toString("hex"),
    GATEWAY_TOKEN_SECRET: randomBytes(32).toString("hex"),
    LOCAL_MACHINES_TOKEN: randomBytes(32).toString("hex"),
    NEXTAUTH_URL: `http://localhost:${port}`,
  };
  const missing = Object.entries(generated).filter(([name]) => !has(name));
  if (missing.length === 0) return;
  const header = current ? "" : "# Written by `npm run dev` for the embedded defaults. Not for production.\n";
  // Secrets: readable by this user only (an existing file written 0644 by an older version is tightened too).
  appendFileSync(ENV_FILE, header + missing.map(([name, value]) => `${name}=${value}\n`).join(""), { mode: 0o600 });
  chmodSync(ENV_FILE, 0o600);
  console.log(`Wrote ${missing.map(([name]) => name).join(", ")} to ${ENV_FILE}.`);
}

async function prepareEmbeddedDatabase(): Promise<void> {
  const env = parseEnv(process.env);
  const handle = await openDatabase({ pgliteDir: env.PGLITE_DIR });
  try {
    await applyMigrations(handle);
    const seeded = await seedDemoUsersIfEmpty(handle.db);
    if (seeded) {
      mkdirSync(path.dirname(CREDENTIALS_FILE), { recursive: true, mode: 0o700 });
      writeFileSync(CREDENTIALS_FILE, `${JSON.stringify(seeded, null, 2)}\n`, { mode: 0o600 });
    }
    if (existsSync(CREDENTIALS_FILE)) {
      const credentials = JSON.parse(readFileSync(CREDENTIALS_FILE, "utf8")) as { email: string; password: string; role: string }[];
      console.log(`\nSign in at http://localhost:${port} with a demo account (${CREDENTIALS_FILE}):`);
      for (const { email, password, role } of credentials) console.log(`  ${role.padEnd(5)}  ${email}  /  ${password}`);
      console.log("");
    }
  } finally {
    await handle.close();
  }
}

/** The URL of the machine service recorded in the state file, if that process is alive and answering. */
async function runningMachineService(): Promise<string | undefined> {
  if (!existsSync(MACHINES_STATE_FILE)) return undefined;
  let service: { pid: number; url: string; tokenFingerprint?: string };
  try {
    service = JSON.parse(readFileSync(MACHINES_STATE_FILE, "utf8")) as typeof service;
    process.kill(service.pid, 0);
    const health = (await (await fetch(`${service.url}/health`, { signal: AbortSignal.timeout(2_000) })).json()) as { pid?: number };
    if (health.pid !== service.pid) return undefined;
  } catch {
    return undefined;
  }
  const token = process.env.LOCAL_MACHINES_TOKEN ?? "";
  if (service.tokenFingerprint !== createHash("sha256").update(token).digest("hex").slice(0, 16)) {
    throw new Error(
      `The local machine service at ${service.url} (pid ${service.pid}) was started with another LOCAL_MACHINES_TOKEN than .env.local has. Stop it (kill ${service.pid}) and run npm run dev again.`,
    );
  }
  return service.url;
}

/**
 * Reuses the machine service under .data/ or starts one in its own process group, detached, so it
 * outlives this command: stopping and restarting `npm run dev` keeps every instance running.
 */
async function ensureMachineService(): Promise<string> {
  const running = await runningMachineService();
  if (running) {
    console.log(`Reusing the local machine service at ${running} (${MACHINES_STATE_FILE}).`);
    return running;
  }
  mkdirSync(path.dirname(MACHINES_STATE_FILE), { recursive: true });
  const log = openSync(MACHINES_LOG_FILE, "a");
  const service = spawn(path.join("node_modules", ".bin", "tsx"), ["--conditions=react-server", "scripts/machines.ts", "--port", "0", "--state-file", MACHINES_STATE_FILE], {
    detached: true,
    stdio: ["ignore", log, log],
    env: process.env,
  });
  service.unref();
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const url = await runningMachineService();
    if (url) {
      console.log(`Started the local machine service at ${url} (log: ${MACHINES_LOG_FILE}); it keeps running after npm run dev stops.`);
      return url;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`The local machine service did not start; see ${MACHINES_LOG_FILE}.`);
}

async function main() {
  const embedded = !process.env.DATABASE_URL;
  if (embedded && process.env.NODE_ENV !== "production") ensureLocalSecrets();
  loadLocalEnv(ENV_FILE);
  const env = parseEnv(process.env);
  if (!env.DATABASE_URL) await prepareEmbeddedDatabase();
  if (env.MACHINE_PROVIDER === "local" && !env.LOCAL_MACHINES_URL && env.LOCAL_MACHINES_TOKEN) {
    process.env.LOCAL_MACHINES_URL = await ensureMachineService();
  }

  // The seeding connection is closed before Next opens the same PGlite directory.
  const next = spawn(path.join("node_modules", ".bin", "next"), ["dev", "-p", port], {
    stdio: "inherit",
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" },
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => next.kill(signal));
  next.on("exit", (code) => process.exit(code ?? 0));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

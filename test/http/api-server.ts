/**
 * The API suites' server: the production build (`next start`) on a free loopback port, with its own
 * database and freshly generated secrets, and a recording HTTP client.
 *
 * Database: with TEST_DATABASE_URL, a throwaway PostgreSQL database that the test process reads and
 * writes while the server runs. Without it, a PGlite directory seeded before the server starts and
 * inspected after it stops (two processes must never open one PGlite directory), so `inspect()`
 * stops the server first in that mode: suites inspect at the end.
 *
 * Machines: a local machine service (lib/machines/local/service.ts) in the test process, which the
 * server drives through LOCAL_MACHINES_URL like any replica would; its gateways outlive the server.
 * `replicaOf` starts a second replica on the first one's database and machine service (PostgreSQL
 * only: two processes never share a PGlite directory).
 *
 * The build is made once per vitest run (shared by the suites through a lock) and reused while no
 * source file is newer than it.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { sql } from "drizzle-orm";
import { openDatabase, queryRows, type Database } from "@/db/client";
import { applyMigrations } from "@/db/migrate";
import { createTestDatabase, type TestDatabase } from "@/test/db";
import { users, type UserRow } from "@/db/schema";
import { hashPassword } from "@/lib/auth/password";
import { decryptApiKey } from "@/lib/keys/encryption";
import { startMachineService, type MachineService } from "@/lib/machines/local/service";
import { freeLoopbackPort } from "@/test/free-port";
import { signInWithCredentials } from "./sign-in";

const ROOT = process.cwd();
const NEXT_BIN = path.join(ROOT, "node_modules", ".bin", "next");
const DIST_DIR = path.join(ROOT, process.env.NEXT_DIST_DIR || ".next");
const BUILD_ID = path.join(DIST_DIR, "BUILD_ID");
const RUN_MARKER = path.join(DIST_DIR, "fleetdeck-api-test-run");
/** Optional variables of shared/env that an empty value unsets. */
const BLANKABLE = [
  "NEXTAUTH_SECRET",
  "NEXTAUTH_SECRET_PREVIOUS",
  "DATABASE_URL",
  "DATABASE_URL_UNPOOLED",
  "PGLITE_DIR",
  "INTERNAL_API_SECRET",
  "CRON_SECRET",
  "METRICS_TOKEN",
  "KEY_ENCRYPTION_KEY",
  "GATEWAY_TOKEN_SECRET",
  "KILO_TOKEN_ENV",
  "FLY_API_TOKEN",
  "FLY_APP_NAME",
  "LOCAL_MACHINES_URL",
  "LOCAL_MACHINES_TOKEN",
  "GITHUB_ID",
  "GITHUB_SECRET",
];
const SOURCE_ROOTS = [
  "app",
  "lib",
  "db",
  "components",
  "shared",
  "proxy.ts",
  "instrumentation.ts",
  "next.config.ts",
  "tsconfig.json",
  "package-lock.json",
  "postcss.config.mjs",
];

export interface ServerSecrets {
  NEXTAUTH_SECRET: string;
  INTERNAL_API_SECRET: string;
  CRON_SECRET: string;
  KEY_ENCRYPTION_KEY: string;
  GATEWAY_TOKEN_SECRET: string;
}

export interface ApiServerOptions {
  /** Fills the fresh database before the server starts. */
  seed?: (db: Database) => Promise<void>;
  /** Environment overrides; `undefined` removes a variable (e.g. `{ NEXTAUTH_SECRET: undefined }`). */
  env?: Record<string, string | undefined>;
  /** A PostgreSQL server of the suite's own to create the database on, instead of TEST_DATABASE_URL. */
  postgresServerUrl?: string;
  /** Start another replica of this server: same database, secrets and machine service (PostgreSQL only). */
  replicaOf?: ApiServer;
}

export interface RecordedResponse {
  method: string;
  path: string;
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body, or undefined when it is not JSON. */
  body: unknown;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  /** A string is sent as is (default content type JSON); an object is JSON-encoded. */
  body?: unknown;
  cookie?: string;
  bearer?: string;
}

export interface ApiServer {
  baseUrl: string;
  /** The server's PostgreSQL database (undefined on PGlite), for suites that need a connection of their own. */
  databaseUrl?: string;
  /** The machine service the server's local machines run on (shared with its replicas). */
  machines: MachineService;
  /** The server's process id (its process group, for a `kill -9` drill). */
  pid: number;
  /** Whether the server process is still running. */
  readonly running: boolean;
  /** The secrets this server was started with (those removed by `env` are absent). */
  secrets: Partial<ServerSecrets>;
  /** Every response the suite received through `request`, for the key-material scan. */
  transcript: RecordedResponse[];
  request(method: string, pathname: string, options?: RequestOptions): Promise<RecordedResponse>;
  /** Signs in through next-auth's credentials flow; returns the Cookie header for later requests. */
  signIn(account: { email: string; password: string }): Promise<string>;
  /** Runs `work` on the server's database (PGlite: stops the server for good first). */
  inspect<T>(work: (db: Database) => Promise<T>): Promise<T>;
  /** Everything the server printed. */
  logs(): string;
  /** Stops the server and starts it again on the same port and database, with these overrides on top. */
  restart(env?: Record<string, string | undefined>): Promise<void>;
  close(): Promise<void>;
}

export function generateSecrets(): ServerSecrets {
  return {
    NEXTAUTH_SECRET: randomBytes(32).toString("hex"),
    INTERNAL_API_SECRET: randomBytes(32).toString("hex"),
    CRON_SECRET: randomBytes(32).toString("hex"),
    KEY_ENCRYPTION_KEY: randomBytes(32).toString("hex"),
    GATEWAY_TOKEN_SECRET: randomBytes(32).toString("hex"),
  };
}

const internals = new WeakMap<ApiServer, { secrets: ServerSecrets; databaseEnv: Record<string, string>; postgres?: TestDatabase; machinesToken: string }>();

export async function startApiServer(options: ApiServerOptions = {}): Promise<ApiServer> {
  await ensureNextBuild();
  const primary = options.replicaOf ? internals.get(options.replicaOf) : undefined;
  if (options.replicaOf && !primary?.postgres) throw new Error("startApiServer: replicas need TEST_DATABASE_URL (PGlite has one process per directory)");
  const secrets = primary?.secrets ?? generateSecrets();
  const port = await freeLoopbackPort();
  const baseUrl = `http://127.0.0.1:${port}`;

  let postgres: TestDatabase | undefined;
  let pgliteDir: string | undefined;
  let databaseEnv: Record<string, string>;
  if (primary) {
    databaseEnv = primary.databaseEnv;
  } else if (options.postgresServerUrl || process.env.TEST_DATABASE_URL) {
    postgres = await createTestDatabase("postgres", options.postgresServerUrl ?? process.env.TEST_DATABASE_URL);
    await options.seed?.(postgres.db);
    databaseEnv = { DATABASE_URL: postgres.url!, DATABASE_DRIVER: "postgres" };
  } else {
    pgliteDir = path.join(mkdtempSync(path.join(tmpdir(), "fleetdeck-api-")), "pglite");
    const handle = await openDatabase({ pgliteDir });
    await applyMigrations(handle);
    await options.seed?.(handle.db);
    await handle.close();
    databaseEnv = { DATABASE_DRIVER: "pglite", PGLITE_DIR: pgliteDir };
  }
  const machinesToken = primary?.machinesToken ?? randomBytes(24).toString("hex");
  const output: string[] = [];
  const machines =
    options.replicaOf?.machines ??
    (await startMachineService({ token: machinesToken, supervisor: { onOutput: (line, { machineId }) => output.push(`[machine ${machineId}] ${line}\n`) } }));

  // Next loads .env files (a developer's .env.local) for every variable not already set, so each
  // optional one is set explicitly; an empty value reads as unset (shared/env).
  const env: Record<string, string> = Object.fromEntries(BLANKABLE.map((name) => [name, ""]));
  for (const name of ["PATH", "HOME", "NEXT_DIST_DIR", "LANG", "TZ", "TMPDIR"]) if (process.env[name]) env[name] = process.env[name]!;
  Object.assign(env, {
    NODE_ENV: "production",
    NEXT_TELEMETRY_DISABLED: "1",
    NEXTAUTH_URL: baseUrl,
    GATEWAY_CALLBACK_URL: baseUrl,
    MACHINE_PROVIDER: "local",
    LOCAL_MACHINES_URL: machines.url,
    LOCAL_MACHINES_TOKEN: machinesToken,
    FLEETDECK_LOG_LEVEL: "info",
    // No background passes: the suites drive refreshes through POST /api/cron/refresh-keys, and the
    // database must change only through the requests they make.
    SCHEDULER_INTERVAL_SECONDS: "0",
    ...secrets,
    ...databaseEnv,
  });
  const applyOverrides = (overrides: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(overrides)) {
      if (value === undefined && !BLANKABLE.includes(name)) throw new Error(`${name} cannot be unset here`);
      env[name] = value ?? "";
    }
  };
  applyOverrides(options.env ?? {});
  const activeSecrets = Object.fromEntries(Object.entries(secrets).filter(([name]) => env[name] === secrets[name as keyof ServerSecrets]));

  let child: ChildProcess;
  let running = false;
  let exited: Promise<void>;
  const launch = async () => {
    child = spawn(NEXT_BIN, ["start", "-H", "127.0.0.1", "-p", String(port)], {
      cwd: ROOT,
      env: env as NodeJS.ProcessEnv,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.on("data", (chunk: Buffer) => output.push(chunk.toString("utf8")));
    child.stderr!.on("data", (chunk: Buffer) => output.push(chunk.toString("utf8")));
    running = true;
    exited = new Promise<void>((resolve) => child.on("exit", () => ((running = false), resolve())));
    await waitUntilReady(baseUrl, () => running, () => output.join(""));
  };
  await launch();

  const transcript: RecordedResponse[] = [];
  const stop = async () => {
    if (running) await killGroup(child, exited);
  };

  const server: ApiServer = {
    baseUrl,
    databaseUrl: postgres?.url,
    machines,
    get pid() {
      return child.pid!;
    },
    get running() {
      return running;
    },
    secrets: activeSecrets,
    transcript,
    async request(method, pathname, requestOptions = {}) {
      const headers: Record<string, string> = { ...requestOptions.headers };
      if (requestOptions.cookie) headers.cookie = requestOptions.cookie;
      if (requestOptions.bearer) headers.authorization = `Bearer ${requestOptions.bearer}`;
      // A session call that changes state is made as the app's own pages make it: same-origin JSON
      // (lib/http/csrf.ts). A suite overrides either header to play a cross-site caller.
      if (requestOptions.cookie && !["GET", "HEAD", "OPTIONS"].includes(method)) {
        const has = (name: string) => Object.keys(headers).some((key) => key.toLowerCase() === name);
        if (!has("origin")) headers.origin = baseUrl;
        if (!has("content-type")) headers["content-type"] = "application/json";
      }
      let body: string | undefined;
      if (requestOptions.body !== undefined) {
        body = typeof requestOptions.body === "string" ? requestOptions.body : JSON.stringify(requestOptions.body);
        if (!Object.keys(headers).some((name) => name.toLowerCase() === "content-type")) headers["content-type"] = "application/json";
      }
      const response = await fetch(`${baseUrl}${pathname}`, { method, headers, body, redirect: "manual" });
      const text = await response.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      const recorded = { method, path: pathname, status: response.status, headers: response.headers, text, body: parsed };
      transcript.push(recorded);
      return recorded;
    },
    signIn: (account) => signInWithCredentials(baseUrl, account),
    async inspect(work) {
      const shared = postgres ?? primary?.postgres;
      if (shared) return work(shared.db);
      await stop();
      const handle = await openDatabase({ pgliteDir: pgliteDir! });
      try {
        return await work(handle.db);
      } finally {
        await handle.close();
      }
    },
    logs: () => output.join(""),
    async restart(overrides = {}) {
      await stop();
      applyOverrides(overrides);
      await launch();
    },
    async close() {
      await stop();
      // A replica leaves the database and the machines to the server it joined.
      if (!options.replicaOf) await machines.close();
      await postgres?.close();
      if (pgliteDir) rmSync(path.dirname(pgliteDir), { recursive: true, force: true });
    },
  };
  internals.set(server, { secrets, databaseEnv, machinesToken, ...(postgres ? { postgres } : {}) });
  return server;
}

// ---------------------------------------------------------------------------------------------
// Seeding and checks shared by the suites

export interface SeededAccount {
  email: string;
  password: string;
  row: UserRow;
}

/** A user who can sign in (scrypt-hashed password, as the real sign-in expects). */
export async function seedAccount(db: Database, input: { email: string; role?: "user" | "admin"; name?: string }): Promise<SeededAccount> {
  const password = `pw-${randomBytes(9).toString("hex")}`;
  const [row] = await db
    .insert(users)
    .values({ email: input.email, name: input.name ?? null, role: input.role ?? "user", passwordHash: await hashPassword(password) })
    .returning();
  return { email: input.email, password, row: row! };
}

/** Row counts and content checksums of the tables an API call could change. */
export async function databaseFingerprint(db: Database): Promise<Record<string, string>> {
  const tables = ["users", "instances", "instance_events", "idempotency_keys"];
  const result: Record<string, string> = {};
  for (const table of tables) {
    const [row] = await queryRows<{ count: string; digest: string | null }>(
      db,
      sql.raw(`select count(*)::text as count, md5(coalesce(string_agg(t::text, '|' order by t::text), '')) as digest from ${table} t`),
    );
    result[table] = `${row!.count}:${row!.digest}`;
  }
  return result;
}

const JWT_SHAPE = /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}/;

/**
 * Every secret-looking thing found in the recorded responses (bodies and headers): JWT-shaped
 * strings, the server's secrets, the users' peppers and password hashes, and every API key the
 * database holds (decrypted) — whole or by its signature.
 */
export async function findKeyMaterial(server: ApiServer): Promise<string[]> {
  const needles = new Map<string, string>();
  for (const [name, value] of Object.entries(server.secrets)) if (value) needles.set(value, name);
  const encryptionKey = server.secrets.KEY_ENCRYPTION_KEY ? Buffer.from(server.secrets.KEY_ENCRYPTION_KEY, "hex") : undefined;
  await server.inspect(async (db) => {
    for (const user of await queryRows<{ email: string; api_token_pepper: string; password_hash: string | null }>(
      db,
      sql`select email, api_token_pepper, password_hash from users`,
    )) {
      needles.set(user.api_token_pepper, `pepper of ${user.email}`);
      if (user.password_hash) needles.set(user.password_hash, `password hash of ${user.email}`);
    }
    for (const row of await queryRows<{ id: string; encrypted_key: string | null }>(db, sql`select id, encrypted_key from instances where encrypted_key is not null`)) {
      needles.set(row.encrypted_key!, `stored ciphertext of ${row.id}`);
      if (!encryptionKey) continue;
      const token = decryptApiKey(row.encrypted_key!, { encryptionKey, instanceId: row.id });
      needles.set(token, `API key of ${row.id}`);
      needles.set(token.split(".")[2]!, `API key signature of ${row.id}`);
    }
  });
  const found: string[] = [];
  for (const response of server.transcript) {
    const headers = [...response.headers].filter(([name]) => name !== "set-cookie").map(([name, value]) => `${name}: ${value}`);
    const haystack = `${response.text}\n${headers.join("\n")}`;
    const where = `${response.method} ${response.path} → ${response.status}`;
    if (JWT_SHAPE.test(haystack)) found.push(`JWT-shaped string in ${where}`);
    for (const [needle, name] of needles) if (haystack.includes(needle)) found.push(`${name} in ${where}`);
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Process plumbing

async function waitUntilReady(baseUrl: string, alive: () => boolean, output: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`next start exited before it was ready:\n${output()}`);
    try {
      if ((await fetch(`${baseUrl}/api/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await sleep(150);
  }
  throw new Error(`next start was not ready within 60 s:\n${output()}`);
}

/** Ends the server's whole process group (next-server and anything it started). */
async function killGroup(child: ChildProcess, exited: Promise<void>): Promise<void> {
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, name);
    } catch {
      // already gone
    }
  };
  signal("SIGTERM");
  const timer = setTimeout(() => signal("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
  signal("SIGKILL");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------
// The production build, once per run

function newestSourceMtime(): number {
  let newest = 0;
  const visit = (entry: string) => {
    if (!existsSync(entry)) return;
    const stat = statSync(entry);
    if (stat.isDirectory()) {
      // A directory's own time changes when a file in it is added, renamed or deleted.
      newest = Math.max(newest, stat.mtimeMs);
      for (const name of readdirSync(entry)) if (name !== "node_modules") visit(path.join(entry, name));
    } else if (!/\.test\.tsx?$/.test(entry)) {
      newest = Math.max(newest, stat.mtimeMs);
    }
  };
  for (const root of SOURCE_ROOTS) visit(path.join(ROOT, root));
  return newest;
}

/** This vitest run (the suites' worker processes share their parent). */
const runId = `${process.ppid}`;

function buildIsUsable(): boolean {
  if (!existsSync(BUILD_ID)) return false;
  if (process.env.FLEETDECK_API_TEST_REUSE_BUILD === "1") return true;
  // Within one run the build is never replaced under a server another suite has started.
  if (existsSync(RUN_MARKER) && readFileSync(RUN_MARKER, "utf8") === runId) return true;
  return statSync(BUILD_ID).mtimeMs > newestSourceMtime();
}

/**
 * Builds the app (`next build`) unless the existing build is newer than every source file or was
 * already used in this vitest run. Suites in parallel workers serialise on a lock directory.
 */
export async function ensureNextBuild(): Promise<void> {
  const lock = path.join(tmpdir(), `fleetdeck-next-build-${createHash("sha256").update(ROOT).digest("hex").slice(0, 12)}.lock`);
  const deadline = Date.now() + 5 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
    } catch {
      const owner = Number(readFileSafe(path.join(lock, "pid")));
      if (owner && !processAlive(owner)) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for the build lock ${lock}`);
      await sleep(250);
      continue;
    }
    try {
      writeFileSync(path.join(lock, "pid"), String(process.pid));
      if (!buildIsUsable()) {
        const build = spawnSync(NEXT_BIN, ["build"], {
          cwd: ROOT,
          env: { ...process.env, NODE_ENV: "production", NEXT_TELEMETRY_DISABLED: "1" },
          encoding: "utf8",
          maxBuffer: 64 * 1024 * 1024,
        });
        if (build.status !== 0) throw new Error(`next build failed:\n${build.stdout}\n${build.stderr}`);
      }
      writeFileSync(RUN_MARKER, runId);
      return;
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

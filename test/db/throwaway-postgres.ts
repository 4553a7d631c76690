/**
 * A PostgreSQL cluster of the test's own, in a temporary directory on a free port, for drills that
 * stop and restart the server (never done to the shared TEST_DATABASE_URL server). PostgreSQL
 * refuses to run as root, so as root it runs as the `postgres` user through runuser.
 */
import { execFile, execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freeLoopbackPort } from "@/test/free-port";

const CANDIDATE_BIN_DIRS = [process.env.FLEETDECK_PG_BIN, "/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin"];

/** The directory holding initdb and pg_ctl, or undefined when PostgreSQL is not installed. */
export function postgresBinDir(): string | undefined {
  for (const dir of CANDIDATE_BIN_DIRS) if (dir && existsSync(path.join(dir, "pg_ctl")) && existsSync(path.join(dir, "initdb"))) return dir;
  try {
    const dir = execFileSync("pg_config", ["--bindir"], { encoding: "utf8" }).trim();
    if (existsSync(path.join(dir, "pg_ctl"))) return dir;
  } catch {
    // no pg_config on PATH
  }
  return undefined;
}

export interface ThrowawayPostgres {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` */
  url: string;
  port: number;
  /** Stops the server: `fast` ends sessions cleanly (57P01), `immediate` kills them like a crash. */
  stop(mode?: "fast" | "immediate"): Promise<void>;
  /** Starts it again and waits until it accepts connections. */
  start(): Promise<void>;
  /** Stops the server and removes its directory. */
  close(): Promise<void>;
}

export async function startThrowawayPostgres(options: { maxConnections?: number } = {}): Promise<ThrowawayPostgres> {
  const bin = postgresBinDir();
  if (!bin) throw new Error("PostgreSQL binaries not found (set FLEETDECK_PG_BIN)");
  const asRoot = process.getuid?.() === 0;
  // Asynchronous on purpose: the drills keep sending requests while the server stops and starts.
  const run = (program: string, args: string[]) =>
    new Promise<void>((resolve, reject) => {
      const [file, argv] = asRoot ? ["runuser", ["-u", "postgres", "--", path.join(bin, program), ...args]] : [path.join(bin, program), args];
      execFile(file, argv, { encoding: "utf8" }, (error, stdout, stderr) =>
        error ? reject(new Error(`${program} ${args.join(" ")} failed:\n${stdout}\n${stderr}`)) : resolve(),
      );
    });
  const dir = mkdtempSync(path.join(tmpdir(), "fleetdeck-pg-"));
  if (asRoot) chownSync(dir, uidOf("postgres"), gidOf("postgres"));
  const data = path.join(dir, "data");
  const port = await freeLoopbackPort();
  await run("initdb", ["-D", data, "--auth=trust", "-U", "postgres", "--no-sync"]);
  const settings = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c max_connections=${options.maxConnections ?? 100}`;
  const start = () => run("pg_ctl", ["-D", data, "-w", "-t", "30", "-l", path.join(dir, "server.log"), "-o", settings, "start"]);
  const stop = (mode: "fast" | "immediate" = "fast") => run("pg_ctl", ["-D", data, "-w", "-m", mode, "stop"]);
  await start();
  let closed = false;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    stop,
    start,
    async close() {
      if (closed) return;
      closed = true;
      await stop("immediate").catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function uidOf(user: string): number {
  return Number(execFileSync("id", ["-u", user], { encoding: "utf8" }).trim());
}

function gidOf(user: string): number {
  return Number(execFileSync("id", ["-g", user], { encoding: "utf8" }).trim());
}


import { execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

const PG_BIN = process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin";

/** Whether a PostgreSQL server of our own can be started here (the binaries exist). */
export const canStartPostgresServer = existsSync(path.join(PG_BIN, "initdb"));

export interface PostgresServer {
  /** Connection string of its `postgres` database. */
  url: string;
  /** Stops the server (fast shutdown: open connections are cut), as in an outage. */
  stop(): void;
  /** Starts it again on the same port and data. */
  start(): void;
  /** Stops it for good and deletes its files. */
  close(): void;
}

/**
 * A PostgreSQL server of the test's own, for tests that take the database away (TEST_DATABASE_URL
 * is shared, so it cannot be stopped). PostgreSQL refuses to run as root, so as root the server
 * runs as the `postgres` user. Starting takes about a second; always `close()` it.
 */
export async function startPostgresServer(): Promise<PostgresServer> {
  const dir = mkdtempSync(path.join(tmpdir(), "fleetdeck-pg-"));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) chownSync(dir, uidOf("postgres"), gidOf("postgres"));
  const run = (binary: string, args: string[]) => {
    const command = path.join(PG_BIN, binary);
    execFileSync(asRoot ? "runuser" : command, asRoot ? ["-u", "postgres", "--", command, ...args] : args, { stdio: "pipe" });
  };
  const port = await freePort();
  const data = path.join(dir, "data");
  run("initdb", ["-D", data, "--auth=trust", "-U", "postgres"]);
  const pgCtl = (...args: string[]) => run("pg_ctl", ["-D", data, ...args]);
  const start = () =>
    pgCtl("-w", "-l", path.join(dir, "server.log"), "-o", `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off`, "start");
  const stop = () => pgCtl("-w", "-m", "fast", "stop");
  start();
  let running = true;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: () => {
      stop();
      running = false;
    },
    start: () => {
      start();
      running = true;
    },
    close: () => {
      try {
        if (running) pgCtl("-m", "immediate", "stop");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

function uidOf(user: string): number {
  return Number(execFileSync("id", ["-u", user], { encoding: "utf8" }).trim());
}

function gidOf(user: string): number {
  return Number(execFileSync("id", ["-g", user], { encoding: "utf8" }).trim());
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => (address && typeof address === "object" ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

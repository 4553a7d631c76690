import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import readline from "node:readline";
import { notify, setState, type LocalMachine } from "./machine-state";

// The processes behind local machines: each runs the gateway program on a loopback port.

// Only what a Node program needs to run. The control plane's own environment (database URL, auth
// secrets, Fly token) must never reach an instance.
const INHERITED_ENV = ["PATH", "SYSTEMROOT", "TZ", "LANG", "TMPDIR"] as const;
const RECENT_OUTPUT_LINES = 20;

/** The supervisor's child processes: which are alive, whose exit was asked for, and when each one ends. */
export interface ProcessTracker {
  children: Set<ChildProcess>;
  expectedExits: WeakSet<ChildProcess>;
  exits: WeakMap<ChildProcess, Promise<void>>;
}

export function createProcessTracker(): ProcessTracker {
  return { children: new Set(), expectedExits: new WeakSet(), exits: new WeakMap() };
}

export interface GatewaySpawnOptions {
  nodePath: string;
  gatewayPath: string;
  startTimeoutMs: number;
  onOutput: (line: string, source: { machineId: string; stream: "stdout" | "stderr" }) => void;
}

/** Resolves when the process has exited. Idempotent; SIGKILL after `graceMs` (immediately when 0). */
export function terminate(tracker: ProcessTracker, child: ChildProcess, graceMs: number): Promise<void> {
  tracker.expectedExits.add(child);
  const exited = tracker.exits.get(child) ?? Promise.resolve();
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  if (graceMs <= 0) {
    child.kill("SIGKILL");
    return exited;
  }
  child.kill("SIGTERM");
  const escalate = setTimeout(() => child.kill("SIGKILL"), graceMs);
  return exited.finally(() => clearTimeout(escalate));
}

function remember(machine: LocalMachine, line: string): void {
  machine.recentOutput.push(line);
  if (machine.recentOutput.length > RECENT_OUTPUT_LINES) machine.recentOutput.shift();
}

const LISTEN_ATTEMPTS = 3;

/**
 * Boots the machine's process on its current config and gives the verdict: `started` once it
 * listens (unless the caller changed its mind meanwhile), `failed` when it cannot. A port taken
 * while the machine was down moves the machine to another, like a rescheduled VM.
 */
export async function launchGateway(machine: LocalMachine, tracker: ProcessTracker, options: GatewaySpawnOptions): Promise<void> {
  if (!existsSync(/*turbopackIgnore: true*/ options.gatewayPath)) {
    machine.desired = "stopped";
    machine.lastExit = `gateway program not found at ${options.gatewayPath}`;
    setState(machine, "failed");
    return;
  }
  const booting = () => machine.state === "starting" || machine.state === "replacing";
  for (let attempt = 1; attempt <= LISTEN_ATTEMPTS; attempt += 1) {
    const outcome = await spawnGatewayOnce(machine, tracker, options);
    if (outcome === "port_in_use") {
      machine.port = undefined;
      continue;
    }
    if (outcome === "listening") {
      if (machine.desired === "started" && !machine.restartPending && booting()) setState(machine, "started");
      return;
    }
    // An exit with no verdict and no new intent would leave the machine `starting` for ever, and
    // every waiter hanging until its deadline: it failed.
    if (!machine.child && !machine.dirty && machine.desired === "started" && booting()) break;
    return;
  }
  machine.desired = "stopped";
  setState(machine, "failed");
}

/** Spawns the gateway for the machine's current config and waits until it listens, exits or times out. */
async function spawnGatewayOnce(
  machine: LocalMachine,
  tracker: ProcessTracker,
  options: GatewaySpawnOptions,
): Promise<"listening" | "exited" | "port_in_use"> {
  const { nodePath, gatewayPath, startTimeoutMs, onOutput } = options;
  const { children, expectedExits, exits } = tracker;
  // A machine keeps its address across restarts; on its first boot (or after losing its port) the
  // gateway binds port 0 and reports the one it got. Probing for a free port first would race every
  // other socket on the host for it between the probe and the bind.
  const port = machine.port ?? 0;
  // The caller may have changed its mind since the last attempt.
  if (machine.desired !== "started") return "exited";
  const env: Record<string, string> = {};
  for (const name of INHERITED_ENV) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  Object.assign(env, machine.config.env, { PORT: String(port), HOST: "127.0.0.1" });

  // Not traced into the standalone build (it would pull in the whole project): deploy/assemble-standalone.sh copies gateway/.
  const child: ChildProcess = spawn(/*turbopackIgnore: true*/ nodePath, [gatewayPath], {
    env: env as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  children.add(child);
  machine.child = child;
  machine.lastExit = undefined;
  exits.set(
    child,
    new Promise((resolve) => {
      let gone = false;
      const onGone = (code: number | null, signal: NodeJS.Signals | null, reason?: string) => {
        if (gone) return;
        gone = true;
        children.delete(child);
        machine.lastExit = reason ?? (signal ? `killed by ${signal}` : `exited with code ${code}`);
        if (machine.child === child) {
          machine.child = undefined;
          if (!expectedExits.has(child)) {
            // Died on its own: like Fly without a restart policy, it stays down until asked.
            machine.desired = "stopped";
            machine.restartPending = false;
            setState(machine, code === 0 ? "stopped" : "failed");
          }
        }
        notify(machine);
        resolve();
      };
      // `close` (not `exit`): by then the last lines of output have been read, so a failure can cite them.
      child.once("close", (code, signal) => onGone(code, signal));
      // A process that could not be spawned at all never emits `exit`.
      child.once("error", (error) => {
        if (child.pid === undefined) onGone(null, null, `spawn failed: ${error.message}`);
      });
    }),
  );
  for (const stream of ["stdout", "stderr"] as const) {
    readline.createInterface({ input: child[stream]! }).on("line", (line) => {
      remember(machine, line);
      onOutput(line, { machineId: machine.id, stream });
    });
  }

  return new Promise((resolve) => {
    // Settled by the exit, which always comes after the process's last message (Node closes the
    // IPC channel before it reports `close`): a port someone else holds is told apart by that message.
    let exitOutcome: "exited" | "port_in_use" = "exited";
    const timer = setTimeout(() => {
      machine.recentOutput.push(`did not listen within ${startTimeoutMs} ms`);
      void terminate(tracker, child, 0).then(() => {
        if (machine.child === undefined && machine.desired === "started") {
          machine.desired = "stopped";
          setState(machine, "failed");
        }
        resolve("exited");
      });
    }, startTimeoutMs);
    child.on("message", (message: { type?: string; code?: string; port?: number }) => {
      if (message?.type === "listening") {
        if (typeof message.port === "number") machine.port = message.port;
        clearTimeout(timer);
        resolve("listening");
      } else if (message?.type === "listen_error" && message.code === "EADDRINUSE") {
        clearTimeout(timer);
        expectedExits.add(child);
        exitOutcome = "port_in_use";
      }
    });
    void exits.get(child)!.then(() => {
      clearTimeout(timer);
      resolve(exitOutcome);
    });
  });
}

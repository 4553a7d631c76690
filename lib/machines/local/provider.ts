import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import readline from "node:readline";
import { newMachineId, newMachineVersion } from "../ids";
import {
  MachineError,
  type CreateMachineInput,
  type Machine,
  type MachineConfig,
  type MachineProvider,
  type MachineState,
  type UpdateMachineInput,
  type WaitableMachineState,
  type WaitForStateOptions,
} from "../types";

export interface LocalMachineProviderOptions {
  /** The gateway program to run. Default: `<cwd>/gateway/gateway.mjs` (Next and vitest run from the repo root). */
  gatewayPath?: string;
  /** Node binary. Default: the one running this process. */
  nodePath?: string;
  /** Region reported for every machine. Default `local`. */
  region?: string;
  /** How long `stop` waits after SIGTERM before SIGKILL. Default 5000 ms. */
  stopGraceMs?: number;
  /** How long a launched process may take to start listening before it is killed and reported failed. Default 10000 ms. */
  startTimeoutMs?: number;
  /**
   * Receives every line the machines print (the gateway never prints its key). Default: forwarded to
   * this process's stdout/stderr, prefixed with the machine id.
   */
  onOutput?: (line: string, source: { machineId: string; stream: "stdout" | "stderr" }) => void;
}

/** The local provider, plus a diagnostic view of the process behind a machine. */
export interface LocalMachineProvider extends MachineProvider {
  readonly name: "local";
  /** The live process running a machine, if any (tests use it to prove no process is left behind). */
  processOf(id: string): { pid: number; port: number } | undefined;
  /** Like `waitForState`, for the first of several states; resolves with the one reached (the machine service's wait). */
  waitForAnyState(id: string, states: readonly WaitableMachineState[], options: WaitForStateOptions): Promise<WaitableMachineState>;
}

type Desired = "started" | "stopped" | "destroyed";

interface LocalMachine {
  id: string;
  name: string;
  region: string;
  config: MachineConfig;
  version: string;
  state: MachineState;
  createdAt: Date;
  updatedAt: Date;
  /** What the callers asked for last; the reconcile loop drives the process towards it. */
  desired: Desired;
  /** An update asked for the running process to be replaced with one on the new config. */
  restartPending: boolean;
  dirty: boolean;
  loop?: Promise<void>;
  child?: ChildProcess;
  port?: number;
  recentOutput: string[];
  lastExit?: string;
  listeners: Set<() => void>;
}

// Only what a Node program needs to run. The control plane's own environment (database URL, auth
// secrets, Fly token) must never reach an instance.
const INHERITED_ENV = ["PATH", "SYSTEMROOT", "TZ", "LANG", "TMPDIR"] as const;
const RECENT_OUTPUT_LINES = 20;
const LISTEN_ATTEMPTS = 3;

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (address && typeof address === "object" ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

function validateConfig(config: MachineConfig): void {
  const strings = (record: unknown) =>
    record !== null &&
    typeof record === "object" &&
    Object.values(record as Record<string, unknown>).every((value) => typeof value === "string");
  if (typeof config.image !== "string" || !strings(config.env) || !strings(config.metadata)) {
    throw new MachineError("upstream", "invalid machine config: image must be a string, env and metadata string maps", {
      status: 422,
    });
  }
}

function matchesMetadata(machine: { config: MachineConfig }, filter: Record<string, string> | undefined): boolean {
  return Object.entries(filter ?? {}).every(([key, value]) => machine.config.metadata[key] === value);
}

/**
 * The local process supervisor: every machine is a real child process running the gateway program
 * on a loopback port, with the machine's `config.env` (plus PORT/HOST) as its whole environment.
 * It runs inside the host's machine service (./service.ts), which every replica drives over Fly's
 * API; without LOCAL_MACHINES_URL the app uses it in-process (one replica only).
 *
 * Mirrors Fly: ids and versions look like Fly's, update mints a new version and restarts unless
 * `skipLaunch` (refusing a stale `currentVersion` with 409), state changes are asynchronous (wait
 * with `waitForState`), a process that exits on its own is reported `stopped` (exit 0) or `failed`.
 * `started` means the gateway is listening.
 *
 * Machines live in this supervisor's memory only: a new one (a restart of the process holding it)
 * answers `not_found` for ids it never created, and the lifecycle reconciles. Every process dies
 * with the one holding the supervisor: killed on `exit`, and the gateway exits by itself when its
 * IPC channel to us closes (which also covers SIGKILL).
 */
export function createLocalMachineProvider(options: LocalMachineProviderOptions = {}): LocalMachineProvider {
  const gatewayPath = options.gatewayPath ?? path.join(process.cwd(), "gateway", "gateway.mjs");
  const nodePath = options.nodePath ?? process.execPath;
  const region = options.region ?? "local";
  const stopGraceMs = options.stopGraceMs ?? 5_000;
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  const onOutput =
    options.onOutput ??
    ((line, { machineId, stream }) => (stream === "stdout" ? process.stdout : process.stderr).write(`[machine ${machineId}] ${line}\n`));

  const machines = new Map<string, LocalMachine>();
  const children = new Set<ChildProcess>();
  const expectedExits = new WeakSet<ChildProcess>();
  const exits = new WeakMap<ChildProcess, Promise<void>>();
  let closed = false;

  const killAllOnExit = () => {
    for (const child of children) child.kill("SIGKILL");
  };
  process.on("exit", killAllOnExit);

  const snapshot = (machine: LocalMachine): Machine => ({
    id: machine.id,
    name: machine.name,
    state: machine.state,
    region: machine.region,
    version: machine.version,
    config: structuredClone(machine.config),
    createdAt: new Date(machine.createdAt),
    updatedAt: new Date(machine.updatedAt),
  });

  const notify = (machine: LocalMachine) => {
    for (const listener of [...machine.listeners]) listener();
  };

  const setState = (machine: LocalMachine, state: MachineState) => {
    if (machine.state === state) return;
    machine.state = state;
    machine.updatedAt = new Date();
    notify(machine);
  };

  const mustGet = (id: string): LocalMachine => {
    const machine = machines.get(id);
    if (!machine || machine.desired === "destroyed") {
      throw new MachineError("not_found", `machine ${id} not found`, { status: 404 });
    }
    return machine;
  };

  /** Resolves when the process has exited. Idempotent; SIGKILL after `graceMs` (immediately when 0). */
  const terminate = (child: ChildProcess, graceMs: number): Promise<void> => {
    expectedExits.add(child);
    const exited = exits.get(child) ?? Promise.resolve();
    if (child.exitCode !== null || child.signalCode !== null) return exited;
    if (graceMs <= 0) {
      child.kill("SIGKILL");
      return exited;
    }
    child.kill("SIGTERM");
    const escalate = setTimeout(() => child.kill("SIGKILL"), graceMs);
    return exited.finally(() => clearTimeout(escalate));
  };

  const remember = (machine: LocalMachine, line: string) => {
    machine.recentOutput.push(line);
    if (machine.recentOutput.length > RECENT_OUTPUT_LINES) machine.recentOutput.shift();
  };

  /** Spawns the gateway for the machine's current config and waits until it listens, exits or times out. */
  const spawnOnce = async (machine: LocalMachine): Promise<"listening" | "exited" | "port_in_use"> => {
    const port = (machine.port ??= await freeLoopbackPort());
    // The caller may have changed its mind while we looked for a port.
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
      const timer = setTimeout(() => {
        machine.recentOutput.push(`did not listen within ${startTimeoutMs} ms`);
        void terminate(child, 0).then(() => {
          if (machine.child === undefined && machine.desired === "started") {
            machine.desired = "stopped";
            setState(machine, "failed");
          }
          resolve("exited");
        });
      }, startTimeoutMs);
      child.on("message", (message: { type?: string; code?: string }) => {
        if (message?.type === "listening") {
          clearTimeout(timer);
          resolve("listening");
        } else if (message?.type === "listen_error" && message.code === "EADDRINUSE") {
          clearTimeout(timer);
          expectedExits.add(child);
          void exits.get(child)!.then(() => resolve("port_in_use"));
        }
      });
      void exits.get(child)!.then(() => {
        clearTimeout(timer);
        resolve("exited");
      });
    });
  };

  const launch = async (machine: LocalMachine): Promise<void> => {
    if (!existsSync(/*turbopackIgnore: true*/ gatewayPath)) {
      machine.desired = "stopped";
      machine.lastExit = `gateway program not found at ${gatewayPath}`;
      setState(machine, "failed");
      return;
    }
    for (let attempt = 1; attempt <= LISTEN_ATTEMPTS; attempt += 1) {
      const outcome = await spawnOnce(machine);
      if (outcome === "port_in_use") {
        // Someone took the machine's port while it was down: move it, like a rescheduled VM.
        machine.port = undefined;
        continue;
      }
      if (outcome === "listening" && machine.desired === "started" && !machine.restartPending) {
        if (machine.state === "starting" || machine.state === "replacing") setState(machine, "started");
      }
      return;
    }
    machine.desired = "stopped";
    setState(machine, "failed");
  };

  /**
   * Drives the process towards `machine.desired`, one step at a time; a caller changing its mind
   * mid-way just marks the machine dirty and the loop re-evaluates. One loop per machine.
   */
  const reconcile = async (machine: LocalMachine): Promise<void> => {
    while (machine.dirty) {
      machine.dirty = false;
      if (machine.desired === "destroyed") {
        if (machine.child) await terminate(machine.child, 0);
        return;
      }
      if (machine.desired === "stopped") {
        if (machine.child) await terminate(machine.child, stopGraceMs);
        if (machine.desired === "stopped" && machine.state === "stopping") setState(machine, "stopped");
        continue;
      }
      if (machine.child && machine.restartPending) await terminate(machine.child, stopGraceMs);
      if (!machine.child && machine.desired === "started") {
        machine.restartPending = false;
        await launch(machine);
      }
    }
  };

  const kick = (machine: LocalMachine): Promise<void> => {
    machine.dirty = true;
    machine.loop ??= reconcile(machine).finally(() => {
      machine.loop = undefined;
      // An intent that arrived between the loop's last check and its end.
      if (machine.dirty) void kick(machine);
    });
    return machine.loop;
  };

  /** Resolves once no reconcile loop is running for the machine (including loops started meanwhile). */
  const settle = async (machine: LocalMachine): Promise<void> => {
    while (machine.loop) await machine.loop;
  };

  /**
   * Resolves with the first of `states` the machine is in (at `version`, when given). Fails `not_found`
   * when it is (or gets) destroyed unless waiting for `destroyed`, `upstream` when it moves to another
   * version or lands in `failed` while `failed` is not awaited, `timeout` after `timeoutMs`.
   */
  const waitForAnyState = (id: string, states: readonly WaitableMachineState[], waitOptions: WaitForStateOptions): Promise<WaitableMachineState> => {
    const machine = machines.get(id);
    if (!machine || machine.state === "destroyed") {
      if (states.includes("destroyed")) return Promise.resolve("destroyed");
      return Promise.reject(new MachineError("not_found", `machine ${id} not found`, { status: 404 }));
    }
    const wanted = states.join(" or ");
    return new Promise((resolve, reject) => {
      const finish = (result: WaitableMachineState | MachineError) => {
        clearTimeout(timer);
        machine.listeners.delete(check);
        if (result instanceof MachineError) reject(result);
        else resolve(result);
      };
      const check = () => {
        if (machine.state === "destroyed" || !machines.has(id)) {
          return finish(states.includes("destroyed") ? "destroyed" : new MachineError("not_found", `machine ${id} was destroyed`, { status: 404 }));
        }
        if (waitOptions.version !== undefined && machine.version !== waitOptions.version) {
          return finish(
            new MachineError("upstream", `machine ${id} moved from version ${waitOptions.version} to ${machine.version}`, {
              status: 400,
            }),
          );
        }
        const reached = states.find((candidate) => candidate === machine.state);
        if (reached) return finish(reached);
        if (machine.state === "failed") {
          // The gateway's own last words (it never prints its key), kept short.
          const detail = [machine.lastExit, ...machine.recentOutput.slice(-2)].filter(Boolean).join(" | ").slice(0, 500);
          return finish(new MachineError("upstream", `machine ${id} failed while waiting for ${wanted}: ${detail}`));
        }
      };
      const timer = setTimeout(
        () => finish(new MachineError("timeout", `machine ${id} not ${wanted} within ${waitOptions.timeoutMs} ms (state ${machine.state})`)),
        waitOptions.timeoutMs,
      );
      machine.listeners.add(check);
      check();
    });
  };

  const provider: LocalMachineProvider = {
    name: "local",

    async create(input: CreateMachineInput): Promise<Machine> {
      if (closed) throw new MachineError("upstream", "local machine provider is closed");
      validateConfig(input.config);
      if (!input.name) throw new MachineError("upstream", "machine name is required", { status: 422 });
      for (const other of machines.values()) {
        if (other.name === input.name) {
          throw new MachineError("upstream", `machine name ${input.name} is taken`, { status: 409 });
        }
      }
      const now = new Date();
      const machine: LocalMachine = {
        id: newMachineId(),
        name: input.name,
        region: input.region ?? region,
        config: structuredClone(input.config),
        version: newMachineVersion(),
        state: input.skipLaunch ? "created" : "starting",
        createdAt: now,
        updatedAt: now,
        desired: input.skipLaunch ? "stopped" : "started",
        restartPending: false,
        dirty: false,
        recentOutput: [],
        listeners: new Set(),
      };
      machines.set(machine.id, machine);
      if (!input.skipLaunch) void kick(machine);
      return snapshot(machine);
    },

    async get(id) {
      const machine = machines.get(id);
      if (!machine) throw new MachineError("not_found", `machine ${id} not found`, { status: 404 });
      return snapshot(machine);
    },

    async list(filter = {}) {
      return [...machines.values()]
        .filter((machine) => machine.desired !== "destroyed" && matchesMetadata(machine, filter.metadata))
        .map(snapshot);
    },

    async update(id: string, input: UpdateMachineInput): Promise<Machine> {
      const machine = mustGet(id);
      validateConfig(input.config);
      if (input.currentVersion !== undefined && input.currentVersion !== machine.version) {
        throw new MachineError("upstream", `machine ${id} is no longer at version ${input.currentVersion}`, { status: 409 });
      }
      machine.config = structuredClone(input.config);
      machine.version = newMachineVersion();
      machine.updatedAt = new Date();
      if (!input.skipLaunch) {
        machine.desired = "started";
        if (machine.child) {
          machine.restartPending = true;
          setState(machine, "replacing");
        } else {
          setState(machine, "starting");
        }
        void kick(machine);
      }
      notify(machine);
      return snapshot(machine);
    },

    async start(id) {
      const machine = mustGet(id);
      if (machine.desired === "started" && ["starting", "started", "replacing"].includes(machine.state)) return;
      machine.desired = "started";
      setState(machine, "starting");
      void kick(machine);
    },

    async stop(id) {
      const machine = mustGet(id);
      if (machine.desired !== "started" && !machine.child) return;
      machine.desired = "stopped";
      machine.restartPending = false;
      setState(machine, "stopping");
      // Stop now, even if the loop is busy waiting for this process to come up.
      if (machine.child) void terminate(machine.child, stopGraceMs);
      void kick(machine);
    },

    async waitForState(id: string, state: WaitableMachineState, waitOptions: WaitForStateOptions): Promise<void> {
      await waitForAnyState(id, [state], waitOptions);
    },

    waitForAnyState,

    async destroy(id, destroyOptions = {}) {
      const machine = machines.get(id);
      if (!machine) return;
      if (machine.desired !== "destroyed" && (machine.child || machine.desired === "started") && !destroyOptions.force) {
        throw new MachineError("upstream", `machine ${id} is running; stop it first or destroy with force`, { status: 412 });
      }
      machine.desired = "destroyed";
      setState(machine, "destroying");
      if (machine.child) void terminate(machine.child, 0);
      void kick(machine);
      await settle(machine);
      if (machine.child) await terminate(machine.child, 0);
      machines.delete(id);
      setState(machine, "destroyed");
    },

    gatewayUrl(machine) {
      const port = mustGet(machine.id).port;
      if (port === undefined) throw new MachineError("not_found", `machine ${machine.id} has never been started`, { status: 404 });
      return `http://127.0.0.1:${port}`;
    },

    processOf(id) {
      const machine = machines.get(id);
      const child = machine?.child;
      if (!machine || !child || child.pid === undefined || machine.port === undefined) return undefined;
      return { pid: child.pid, port: machine.port };
    },

    async close() {
      closed = true;
      const all = [...machines.values()];
      for (const machine of all) {
        machine.desired = "destroyed";
        if (machine.child) void terminate(machine.child, 0);
      }
      for (const machine of all) void kick(machine);
      await Promise.all(all.map(settle));
      await Promise.all([...children].map((child) => terminate(child, 0)));
      machines.clear();
      process.off("exit", killAllOnExit);
    },
  };
  return provider;
}

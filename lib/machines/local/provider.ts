import type { ChildProcess } from "node:child_process";
import path from "node:path";
import { newMachineId, newMachineVersion } from "../ids";
import {
  MachineError,
  type CreateMachineInput,
  type Machine,
  type MachineProvider,
  type UpdateMachineInput,
  type WaitableMachineState,
  type WaitForStateOptions,
} from "../types";
import { createProcessTracker, launchGateway, terminate as terminateProcess } from "./gateway-process";
import {
  describeRecord,
  matchesMetadata,
  notify,
  setState,
  snapshot,
  validateConfig,
  waitForAnyState as waitForMachineState,
  type LocalMachine,
  type MachineRecordView,
} from "./machine-state";

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
  /** The supervisor's record of a machine, for a drill's diagnosis of a machine that never came up. */
  describe(id: string): MachineRecordView | undefined;
  /** Like `waitForState`, for the first of several states; resolves with the one reached (the machine service's wait). */
  waitForAnyState(id: string, states: readonly WaitableMachineState[], options: WaitForStateOptions): Promise<WaitableMachineState>;
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
  const tracker = createProcessTracker();
  const { children } = tracker;
  const terminate = (child: ChildProcess, graceMs: number) => terminateProcess(tracker, child, graceMs);
  const spawnOptions = { nodePath, gatewayPath, startTimeoutMs, onOutput };
  const waitForAnyState: LocalMachineProvider["waitForAnyState"] = (id, states, waitOptions) => waitForMachineState(machines, id, states, waitOptions);
  let closed = false;

  const killAllOnExit = () => {
    for (const child of children) child.kill("SIGKILL");
  };
  process.on("exit", killAllOnExit);

  const mustGet = (id: string): LocalMachine => {
    const machine = machines.get(id);
    if (!machine || machine.desired === "destroyed") {
      throw new MachineError("not_found", `machine ${id} not found`, { status: 404 });
    }
    return machine;
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
        await launchGateway(machine, tracker, spawnOptions);
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

    describe(id) {
      const machine = machines.get(id);
      return machine && describeRecord(machine);
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

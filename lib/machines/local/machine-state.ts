import type { ChildProcess } from "node:child_process";
import { MachineError, type Machine, type MachineConfig, type MachineState, type WaitableMachineState, type WaitForStateOptions } from "../types";

// The local supervisor's record of one machine, and what is read from it without running anything.

export type Desired = "started" | "stopped" | "destroyed";

export interface LocalMachine {
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


/** What callers see of a machine: a copy, so they cannot change the supervisor's record. */
export const snapshot = (machine: LocalMachine): Machine => ({
  id: machine.id,
  name: machine.name,
  state: machine.state,
  region: machine.region,
  version: machine.version,
  config: structuredClone(machine.config),
  createdAt: new Date(machine.createdAt),
  updatedAt: new Date(machine.updatedAt),
});

/** The supervisor's view of one machine: what it wants, whether it is working on it, its process. */
export interface MachineRecordView {
  state: MachineState;
  desired: Desired;
  restartPending: boolean;
  dirty: boolean;
  reconciling: boolean;
  pid: number | undefined;
  port: number | undefined;
  lastExit: string | undefined;
  recentOutput: string[];
}

export const describeRecord = (machine: LocalMachine): MachineRecordView => ({
  state: machine.state,
  desired: machine.desired,
  restartPending: machine.restartPending,
  dirty: machine.dirty,
  reconciling: machine.loop !== undefined,
  pid: machine.child?.pid,
  port: machine.port,
  lastExit: machine.lastExit,
  recentOutput: [...machine.recentOutput],
});

/** Wakes every waiter on the machine (they re-check its state). */
export const notify = (machine: LocalMachine) => {
  for (const listener of [...machine.listeners]) listener();
};

export const setState = (machine: LocalMachine, state: MachineState) => {
  if (machine.state === state) return;
  machine.state = state;
  machine.updatedAt = new Date();
  notify(machine);
};

export function validateConfig(config: MachineConfig): void {
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

export function matchesMetadata(machine: { config: MachineConfig }, filter: Record<string, string> | undefined): boolean {
  return Object.entries(filter ?? {}).every(([key, value]) => machine.config.metadata[key] === value);
}

/**
 * Resolves with the first of `states` the machine is in (at `version`, when given). Fails `not_found`
 * when it is (or gets) destroyed unless waiting for `destroyed`, `upstream` when it moves to another
 * version or lands in `failed` while `failed` is not awaited, `timeout` after `timeoutMs`.
 */
export function waitForAnyState(
  machines: ReadonlyMap<string, LocalMachine>,
  id: string,
  states: readonly WaitableMachineState[],
  waitOptions: WaitForStateOptions,
): Promise<WaitableMachineState> {
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
}

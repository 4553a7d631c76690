/**
 * The machine-provider interface: what the instance lifecycle (`lib/instances/`) may ask of a machine,
 * in Fly Machines vocabulary so the `fly` provider is a thin mapping and the `local` provider mirrors
 * Fly's observable behaviour (ids, versions, states, skip_launch).
 *
 * Only `lib/machines/` implements this; everything else receives a `MachineProvider` as a parameter.
 */

import { hasErrorBrand } from "@/lib/errors";

/** Every state a machine can report, as Fly names them. */
export const machineStates = [
  "created",
  "starting",
  "started",
  "stopping",
  "stopped",
  "suspended",
  "replacing",
  "destroying",
  "destroyed",
  "failed",
] as const;

export type MachineState = (typeof machineStates)[number];

/** States `waitForState` can wait for (the ones Fly's wait endpoint accepts, minus `settled`). */
export const waitableStates = ["started", "stopped", "suspended", "destroyed", "failed"] as const;

export type WaitableMachineState = (typeof waitableStates)[number];

export interface MachineGuest {
  cpuKind: "shared" | "performance";
  cpus: number;
  memoryMb: number;
}

/**
 * The whole configuration of a machine. `update` replaces it entirely (Fly semantics), so callers
 * always send the full config, never a patch.
 */
export interface MachineConfig {
  /** Container image (Fly). The local provider always runs the bundled gateway and ignores it. */
  image: string;
  /** Environment of the machine's process, including `KILOCODE_API_KEY`. Never logged. */
  env: Record<string, string>;
  /** Labels for finding machines again (`list({ metadata })`), e.g. the instance id. */
  metadata: Record<string, string>;
  /** VM size (Fly only; the local provider ignores it). Fly's default applies when omitted. */
  guest?: MachineGuest;
}

export interface Machine {
  id: string;
  name: string;
  state: MachineState;
  region: string;
  /** Fly's machine `version` (formerly `instance_id`): a new value on every update, even skip_launch. */
  version: string;
  config: MachineConfig;
  createdAt: Date;
  updatedAt: Date;
}

export interface CreateMachineInput {
  /** Unique among the provider's live machines; a duplicate is rejected. */
  name: string;
  /** Defaults to the provider's region. */
  region?: string;
  config: MachineConfig;
  /** Create the machine without booting it (state `created`); `start` or an update boots it. */
  skipLaunch?: boolean;
}

export interface UpdateMachineInput {
  /** The full new config (replaces the old one). */
  config: MachineConfig;
  /**
   * Store the config without touching the running process: the new config is what the next start
   * uses. Without it, a running machine is restarted with the new config and a stopped one is booted.
   */
  skipLaunch?: boolean;
  /** Fly: refuse to boot with app secrets older than this version. Ignored by the local provider. */
  minSecretsVersion?: number;
  /**
   * Optimistic-concurrency guard: reject the update (MachineError `upstream`, status 409) when the
   * machine's version is no longer this one. Nothing changes in that case.
   */
  currentVersion?: string;
}

export interface WaitForStateOptions {
  /** Overall budget; the provider loops over shorter server-side waits until it is spent. */
  timeoutMs: number;
  /**
   * Wait for this machine version (as returned by create/update) to reach the state. If the machine
   * has moved on to another version, the wait fails (`upstream`) instead of reporting the wrong one.
   */
  version?: string;
}

export interface MachineProvider {
  readonly name: "local" | "fly";

  /**
   * Creates a machine and, unless `skipLaunch`, starts booting it. Returns as soon as the machine
   * exists (state `created`/`starting`): use `waitForState` to wait for `started`. Not idempotent by
   * itself, but names are unique, so a repeated create with the same name fails instead of making a
   * second machine.
   */
  create(input: CreateMachineInput): Promise<Machine>;

  /**
   * The machine as the provider sees it now. Throws MachineError `not_found` when it does not exist.
   * A destroyed machine either throws `not_found` or is returned in state `destroyed`; treat both as gone.
   */
  get(id: string): Promise<Machine>;

  /** Live machines whose metadata contains every given key/value pair. */
  list(filter?: { metadata?: Record<string, string> }): Promise<Machine[]>;

  /**
   * Replaces the machine's config and mints a new version (returned). Without `skipLaunch` the machine
   * is (re)started with the new config asynchronously: wait for `started` with the returned version.
   * On failure the old config and version are still in place (Fly applies an update atomically).
   */
  update(id: string, input: UpdateMachineInput): Promise<Machine>;

  /** Boots a stopped/created/failed machine with its stored config. A no-op on a running machine. */
  start(id: string): Promise<void>;

  /** Asks the machine to stop (SIGTERM, then SIGKILL after a grace period). A no-op when already stopped. */
  stop(id: string): Promise<void>;

  /**
   * Resolves once the machine is in `state` (and at `version`, when given). Fails early with `upstream`
   * when the machine lands in `failed` instead (unless waiting for `failed`), and with `timeout` when
   * `timeoutMs` runs out. Waiting for `destroyed` on a machine that no longer exists resolves.
   */
  waitForState(id: string, state: WaitableMachineState, options: WaitForStateOptions): Promise<void>;

  /**
   * Destroys the machine. `force` kills a running machine; without it a running machine is refused.
   * Destroying a machine that is already gone resolves (repeat calls are safe).
   */
  destroy(id: string, options?: { force?: boolean }): Promise<void>;

  /** Base URL at which the control plane reaches the machine's gateway (`/health`, `/env/patch`). */
  gatewayUrl(machine: Pick<Machine, "id">): string;

  /** Releases what the provider holds. The local provider kills every process it started; fly holds nothing. */
  close(): Promise<void>;
}

export type MachineErrorKind = "not_found" | "capacity" | "rate_limited" | "timeout" | "upstream";

// Registry symbol: the same in every bundle, unlike the class (see `hasErrorBrand`).
const MACHINE_ERROR_BRAND = Symbol.for("fleetdeck.error.MachineError");

/**
 * The only error a provider throws for an expected failure. `status` is the upstream HTTP status when
 * there was one; `retryAfterMs` is set for `rate_limited` when the provider said when to come back.
 * Messages never contain config values (and so never key material).
 */
export class MachineError extends Error {
  readonly kind: MachineErrorKind;
  readonly status?: number;
  readonly retryAfterMs?: number;
  readonly [MACHINE_ERROR_BRAND] = true;

  constructor(
    kind: MachineErrorKind,
    message: string,
    options: { status?: number; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "MachineError";
    this.kind = kind;
    if (options.status !== undefined) this.status = options.status;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * Whether `error` is a MachineError, whichever bundle's copy of the class made it: the provider is
 * often created by the scheduler's (instrumentation) bundle and its errors caught in a route's.
 */
export function isMachineError(error: unknown): error is MachineError {
  return hasErrorBrand(error, MACHINE_ERROR_BRAND) && typeof (error as { kind?: unknown }).kind === "string";
}

import { z } from "zod";
import {
  isMachineError,
  MachineError,
  type CreateMachineInput,
  type Machine,
  type MachineProvider,
  type MachineState,
  type UpdateMachineInput,
  type WaitableMachineState,
  type WaitForStateOptions,
} from "../types";
import { defaultRetryPolicy, FlyHttp, type RetryPolicy } from "./http";
import { configContains, flyMachineListSchema, flyMachineSchema, flyWaitResponseSchema, toFlyConfig } from "./schemas";

export interface FlyMachineProviderOptions {
  /** FLY_API_TOKEN. */
  token: string;
  /** FLY_APP_NAME: the app every instance machine lives in. */
  app: string;
  /** FLY_API_HOSTNAME. Default https://api.machines.dev. */
  apiHostname?: string;
  /** FLY_REGION: where machines are created unless `create` names one. Default iad. */
  region?: string;
  /** Per-request timeout. Default 15000 ms. */
  requestTimeoutMs?: number;
  /** Retry policy; tests shorten it. */
  retry?: Partial<RetryPolicy>;
  /** Port the gateway listens on inside the machine (the gateway's default PORT). Default 8080. */
  gatewayPort?: number;
  /** Where a machine's gateway is reached. Default: Fly's private network name `{id}.vm.{app}.internal`. */
  gatewayUrlFor?: (machineId: string) => string;
}

export type FlyMachineProvider = MachineProvider & { readonly name: "fly"; readonly app: string };

// Fly's wait endpoint blocks at most this long and answers 408 after it.
const MAX_SERVER_WAIT_S = 60;
const RUNNING_STATES: readonly MachineState[] = ["starting", "started", "replacing"];
const anyBody = z.unknown();

/**
 * The Fly Machines API provider (shared/reference/fly-machines-openapi.yaml).
 *
 * Every request has a timeout. Reads are retried on transient failures; writes are retried only when
 * Fly said it did not process them (429, 503, honouring Retry-After). When a write's answer is lost
 * (no answer, reset, 502, 504) the state is re-read and the write is repeated only if it had not taken
 * effect — an update repeat carries `current_version`, so it can never apply twice. A failure therefore
 * leaves the machine either untouched or fully at the new config, never half-updated (Fly applies a
 * config atomically), but the caller may not know which: `get` tells.
 */
export function createFlyMachineProvider(options: FlyMachineProviderOptions): FlyMachineProvider {
  if (!options.token) throw new Error("fly machine provider: FLY_API_TOKEN is required");
  if (!options.app) throw new Error("fly machine provider: FLY_APP_NAME is required");
  const app = options.app;
  const region = options.region ?? "iad";
  const gatewayPort = options.gatewayPort ?? 8080;
  const requestTimeoutMs = options.requestTimeoutMs ?? 15_000;
  const http = new FlyHttp({
    baseUrl: options.apiHostname ?? "https://api.machines.dev",
    token: options.token,
    requestTimeoutMs,
    retry: { ...defaultRetryPolicy, ...options.retry },
  });
  const appPath = `/v1/apps/${encodeURIComponent(app)}/machines`;
  const machinePath = (id: string) => `${appPath}/${encodeURIComponent(id)}`;

  const get = async (id: string): Promise<Machine> => {
    const { body } = await http.read({ method: "GET", path: machinePath(id), schema: flyMachineSchema, what: `get machine ${id}` });
    return body!;
  };

  /** The machine, or undefined when Fly says it does not exist. */
  const find = async (id: string): Promise<Machine | undefined> => {
    try {
      return await get(id);
    } catch (error) {
      if (isMachineError(error) && error.kind === "not_found") return undefined;
      throw error;
    }
  };

  const list = async (filter: { metadata?: Record<string, string> } = {}): Promise<Machine[]> => {
    const query: Record<string, string> = {};
    for (const [key, value] of Object.entries(filter.metadata ?? {})) query[`metadata.${key}`] = value;
    const { body } = await http.read({ method: "GET", path: appPath, query, schema: flyMachineListSchema, what: "list machines" });
    // Filter again: an older API that ignores metadata.* must not hand us someone else's machine.
    return body!.filter(
      (machine) =>
        machine.state !== "destroyed" &&
        Object.entries(filter.metadata ?? {}).every(([key, value]) => machine.config.metadata[key] === value),
    );
  };

  const provider: FlyMachineProvider = {
    name: "fly",
    app,

    create(input: CreateMachineInput) {
      const body = {
        name: input.name,
        region: input.region ?? region,
        config: toFlyConfig(input.config),
        ...(input.skipLaunch ? { skip_launch: true } : {}),
      };
      return http.mutate<Machine>({
        method: "POST",
        path: appPath,
        body,
        schema: flyMachineSchema,
        capacityStatuses: [412],
        what: `create machine ${input.name}`,
        // Names are unique per app, so "a live machine with this name" means the create happened.
        reconcile: async () => {
          const existing = (await list({ metadata: input.config.metadata })).find((machine) => machine.name === input.name);
          return existing ? { applied: true, value: existing } : { applied: false };
        },
      });
    },

    get,

    list,

    update(id: string, input: UpdateMachineInput) {
      const body = {
        config: toFlyConfig(input.config),
        ...(input.skipLaunch ? { skip_launch: true } : {}),
        ...(input.minSecretsVersion !== undefined ? { min_secrets_version: input.minSecretsVersion } : {}),
        ...(input.currentVersion !== undefined ? { current_version: input.currentVersion } : {}),
      };
      return http.mutate<Machine>({
        method: "POST",
        path: machinePath(id),
        body,
        schema: flyMachineSchema,
        capacityStatuses: [412],
        what: `update machine ${id}`,
        reconcile: async () => {
          const machine = await get(id);
          const applied =
            configContains(machine.config, input.config) && (input.skipLaunch || RUNNING_STATES.includes(machine.state));
          if (applied) return { applied: true, value: machine };
          // A repeat guarded by a version cannot apply on top of a late first attempt: the caller's
          // version when it gave one (so a machine another writer moved on refuses it, 409), else
          // the version we just read.
          return { applied: false, retry: { body: { ...body, current_version: input.currentVersion ?? machine.version } } };
        },
      });
    },

    async start(id: string) {
      await http.mutate({
        method: "POST",
        path: `${machinePath(id)}/start`,
        schema: anyBody,
        capacityStatuses: [412],
        what: `start machine ${id}`,
        reconcile: async () => {
          const machine = await get(id);
          return RUNNING_STATES.includes(machine.state) ? { applied: true, value: undefined } : { applied: false };
        },
      });
    },

    async stop(id: string) {
      await http.mutate({
        method: "POST",
        path: `${machinePath(id)}/stop`,
        schema: anyBody,
        what: `stop machine ${id}`,
        reconcile: async () => {
          const machine = await get(id);
          return RUNNING_STATES.includes(machine.state) ? { applied: false } : { applied: true, value: undefined };
        },
      });
    },

    async waitForState(id: string, state: WaitableMachineState, waitOptions: WaitForStateOptions) {
      const deadline = Date.now() + waitOptions.timeoutMs;
      // Ask to be woken for `failed` too, so a machine that cannot boot fails the wait now, not at the deadline.
      const states = state === "started" || state === "stopped" || state === "suspended" ? [state, "failed"] : [state];
      for (;;) {
        const remainingMs = deadline - Date.now();
        if (remainingMs <= 0) {
          throw new MachineError("timeout", `fly machine ${id} not ${state} within ${waitOptions.timeoutMs} ms`);
        }
        const serverTimeoutS = Math.max(1, Math.min(MAX_SERVER_WAIT_S, Math.floor(remainingMs / 1000)));
        let result: { status: number; body: z.infer<typeof flyWaitResponseSchema> | undefined };
        try {
          result = await http.read({
            method: "GET",
            path: `${machinePath(id)}/wait`,
            query: { state: states, timeout: serverTimeoutS, version: waitOptions.version },
            schema: flyWaitResponseSchema,
            accept: [408],
            // Under a second left: still ask (the server's minimum is 1 s) but stop listening at our deadline.
            timeoutMs: remainingMs < 1000 ? remainingMs : serverTimeoutS * 1000 + requestTimeoutMs,
            deadline,
            what: `wait for machine ${id} ${state}`,
          });
        } catch (error) {
          if (state === "destroyed" && isMachineError(error) && error.kind === "not_found") return;
          throw error;
        }
        if (result.status === 408) continue; // the server-side wait ran out; ours may not have
        const reached = result.body?.state;
        if (reached === "failed" && state !== "failed") {
          throw new MachineError("upstream", `fly machine ${id} entered failed while waiting for ${state}`);
        }
        return;
      }
    },

    async destroy(id: string, destroyOptions = {}) {
      try {
        await http.mutate({
          method: "DELETE",
          path: machinePath(id),
          query: destroyOptions.force ? { force: true } : {},
          schema: anyBody,
          what: `destroy machine ${id}`,
          reconcile: async () => {
            const machine = await find(id);
            return !machine || machine.state === "destroying" || machine.state === "destroyed"
              ? { applied: true, value: undefined }
              : { applied: false };
          },
        });
      } catch (error) {
        // Already gone is what the caller wanted.
        if (isMachineError(error) && error.kind === "not_found") return;
        throw error;
      }
    },

    gatewayUrl(machine) {
      if (options.gatewayUrlFor) return options.gatewayUrlFor(machine.id);
      return `http://${machine.id}.vm.${app}.internal:${gatewayPort}`;
    },

    async close() {},
  };
  return provider;
}

import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { parse as parseYaml } from "yaml";
import { newMachineId, newMachineVersion } from "@/lib/machines/ids";
import { FLY_MACHINE_OPERATIONS, type FlyMachineOperation } from "@/lib/machines/fly/operations";

/**
 * An HTTP fake of Fly's Machines API on 127.0.0.1, built from the OpenAPI description committed beside
 * the provider (`./fly-machines-openapi.yaml`, a copy of shared/reference):
 *
 * - routes come from the spec's paths; the operations the provider uses are implemented over an
 *   in-memory app, every other operation answers 501;
 * - path/query parameters and request bodies are validated against the spec's schemas (with unknown
 *   properties rejected, so a misspelt field such as `skipLaunch` fails instead of being ignored), and
 *   so are the fake's own responses;
 * - faults can be injected per operation, and every request is logged, so tests can assert what the
 *   client did (e.g. that a POST was not repeated).
 *
 * Test-only. Not a Fly simulator: state changes take `transitionMs` and nothing else is modelled.
 */


export type FakeFlyOperation = FlyMachineOperation;

export type FakeFlyFault =
  /** Answer this status (and body) without touching state. */
  | { type: "status"; status: number; body?: unknown; headers?: Record<string, string> }
  /** 429 with Retry-After (seconds), without touching state. */
  | { type: "rate_limit"; retryAfterSeconds?: number }
  /** 412 insufficient_capacity, without touching state. */
  | { type: "capacity" }
  /** 408, as Fly's wait answers when its server-side timeout runs out. */
  | { type: "wait_timeout" }
  /** A slow answer. `apply: "before"` does the work first (the client may give up on a done request). */
  | { type: "delay"; ms: number; apply?: "before" | "after" }
  /** Reset the connection before doing anything. */
  | { type: "drop" }
  /** Do the work, then reset the connection instead of answering. */
  | { type: "drop_after_apply" };

export interface FakeFlyRequest {
  operationId: FakeFlyOperation | string;
  method: string;
  path: string;
  query: Record<string, string[]>;
  body: unknown;
  /** The status answered, or "dropped". */
  outcome: number | "dropped";
  fault?: FakeFlyFault["type"];
}

/** A machine as the fake stores it: already in the spec's `Machine` shape. */
export interface FakeFlyMachine {
  id: string;
  name: string;
  state: string;
  region: string;
  version: string;
  instance_id: string;
  private_ip: string;
  config: Record<string, unknown> & { metadata?: Record<string, string> };
  image_ref: { registry: string; repository: string; tag: string; digest: string; labels: Record<string, string> };
  created_at: string;
  updated_at: string;
  events: unknown[];
  host_status: "ok";
}

export interface FakeFlyOptions {
  /** Bearer token the fake accepts. Default "fake-fly-token". */
  token?: string;
  /** The one app the fake hosts. Default "fleetdeck-test". */
  app?: string;
  /** How long each state transition (starting→started, stopping→stopped, …) takes. Default 20 ms. */
  transitionMs?: number;
  /** Spec to build from. Default: the committed copy. */
  specPath?: string;
}

export interface FakeFly {
  readonly url: string;
  readonly app: string;
  readonly token: string;
  /** Every request, in arrival order. */
  readonly requests: readonly FakeFlyRequest[];
  requestsTo(operationId: FakeFlyOperation): FakeFlyRequest[];
  /** Request bodies or parameters that did not match the spec (they were answered 400). */
  readonly validationErrors: readonly string[];
  /** The next `times` requests to `operationId` get `fault`. Faults queue in order. */
  inject(operationId: FakeFlyOperation, fault: FakeFlyFault, times?: number): void;
  /** Stored machine (spec-shaped), including destroyed ones. */
  machine(id: string): FakeFlyMachine | undefined;
  /** Force a machine into a state (e.g. `failed`, as if it crashed), waking waiters. */
  setState(id: string, state: string): void;
  clearRequests(): void;
  close(): Promise<void>;
}

const DEFAULT_SPEC = fileURLToPath(new URL("./fly-machines-openapi.yaml", import.meta.url));
const SPEC_ID = "https://fake-fly.invalid/openapi.json";

type Json = Record<string, unknown>;
type Schema = Json;

interface Operation {
  operationId: string;
  method: string;
  pattern: RegExp;
  pathParams: string[];
  parameters: { name: string; in: string; required?: boolean; schema?: Schema }[];
  bodyValidator?: ValidateFunction;
  bodyRequired: boolean;
  responseValidators: Map<number, ValidateFunction>;
}

/** Adds `unevaluatedProperties: false` to every object schema that lists its properties and leaves extras open. */
function rejectUnknownProperties(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rejectUnknownProperties);
  if (!node || typeof node !== "object") return node;
  const schema = { ...(node as Schema) };
  if (schema.properties && typeof schema.properties === "object") {
    schema.properties = Object.fromEntries(
      Object.entries(schema.properties as Json).map(([name, inner]) => [name, rejectUnknownProperties(inner)]),
    );
  }
  for (const key of ["items", "additionalProperties"] as const) {
    if (schema[key] && typeof schema[key] === "object") schema[key] = rejectUnknownProperties(schema[key]);
  }
  for (const key of ["allOf", "anyOf", "oneOf"] as const) {
    if (Array.isArray(schema[key])) schema[key] = (schema[key] as unknown[]).map(rejectUnknownProperties);
  }
  if (schema.properties && schema.additionalProperties === undefined && schema.unevaluatedProperties === undefined) {
    schema.unevaluatedProperties = false;
  }
  return schema;
}

/** Points local `#/components/...` refs of an operation-level schema at the registered spec document. */
function anchorRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(anchorRefs);
  if (!node || typeof node !== "object") return node;
  return Object.fromEntries(
    Object.entries(node as Json).map(([key, value]) => [
      key,
      key === "$ref" && typeof value === "string" && value.startsWith("#/") ? SPEC_ID + value : anchorRefs(value),
    ]),
  );
}

const compiled = new Map<string, Operation[]>();

/** Routes and validators of a spec, compiled once per process (parsing and compiling take ~0.3 s). */
function operationsOf(specPath: string): Operation[] {
  let operations = compiled.get(specPath);
  if (!operations) {
    operations = compileOperations(specPath);
    compiled.set(specPath, operations);
  }
  return operations;
}

function compileOperations(specPath: string): Operation[] {
  const spec = parseYaml(readFileSync(specPath, "utf8")) as Json;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  const components = spec.components as Json;
  const schemas = Object.fromEntries(
    Object.entries(components.schemas as Json).map(([name, schema]) => [name, rejectUnknownProperties(schema)]),
  );
  ajv.addSchema({ $id: SPEC_ID, components: { schemas } });
  const compile = (schema: unknown) => ajv.compile(anchorRefs(rejectUnknownProperties(schema)) as Schema);

  const operations: Operation[] = [];
  for (const [template, item] of Object.entries(spec.paths as Record<string, Json>)) {
    const pathParams: string[] = [];
    const pattern = new RegExp(
      "^" +
        template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{([^}]+)\}/g, (_, name: string) => {
          pathParams.push(name);
          return "([^/]+)";
        }) +
        "$",
    );
    for (const [method, raw] of Object.entries(item)) {
      if (!["get", "post", "put", "patch", "delete"].includes(method)) continue;
      const operation = raw as Json;
      const implemented = (FLY_MACHINE_OPERATIONS as readonly string[]).includes(String(operation.operationId));
      const body = (operation.requestBody as Json | undefined)?.content as Json | undefined;
      const bodySchema = (body?.["application/json"] as Json | undefined)?.schema;
      const responseValidators = new Map<number, ValidateFunction>();
      for (const [status, response] of Object.entries((operation.responses as Json | undefined) ?? {})) {
        const schema = (((response as Json).content as Json | undefined)?.["application/json"] as Json | undefined)?.schema;
        if (implemented && schema && /^\d+$/.test(status)) responseValidators.set(Number(status), compile(schema));
      }
      operations.push({
        operationId: String(operation.operationId),
        method: method.toUpperCase(),
        pattern,
        pathParams,
        parameters: (operation.parameters as Operation["parameters"] | undefined) ?? [],
        // Only the implemented operations get validators (compiling all 70 paths costs ~0.5 s per fake).
        ...(implemented && bodySchema ? { bodyValidator: compile(bodySchema) } : {}),
        bodyRequired: Boolean((operation.requestBody as Json | undefined)?.required),
        responseValidators,
      });
    }
  }
  // Every error body the fake invents is an ErrorResponse.
  const errorValidator = compile({ $ref: "#/components/schemas/ErrorResponse" });
  for (const operation of operations) {
    if (!(FLY_MACHINE_OPERATIONS as readonly string[]).includes(operation.operationId)) continue;
    for (const status of [400, 401, 404, 408, 409, 412, 429, 500, 501, 502, 503, 504]) {
      if (!operation.responseValidators.has(status)) operation.responseValidators.set(status, errorValidator);
    }
  }
  return operations;
}

/**
 * Problems with a response body of `operationId` answered `status`, judged by the committed spec
 * (empty when it conforms). Lets another implementation of the API (the local machine service)
 * be held to the same description as this fake.
 */
export function flyResponseProblems(operationId: FakeFlyOperation, status: number, body: unknown, specPath = DEFAULT_SPEC): string[] {
  const operation = operationsOf(specPath).find((candidate) => candidate.operationId === operationId);
  const validate = operation?.responseValidators.get(status);
  if (!validate) return [`${operationId} has no documented ${status} response`];
  return validate(body) ? [] : (validate.errors ?? []).map((error) => `${operationId} ${status}${error.instancePath} ${error.message}`);
}

/** Coerces a query/path string to the parameter's schema type, then validates it. */
function parameterProblems(parameter: Operation["parameters"][number], values: string[]): string[] {
  const schema = parameter.schema ?? {};
  const problems: string[] = [];
  for (const raw of values) {
    // `state` on wait: "supports repeated or comma-separated values".
    for (const value of parameter.name === "state" ? raw.split(",") : [raw]) {
      if (schema.type === "integer" && !/^-?\d+$/.test(value)) problems.push(`${parameter.name} must be an integer`);
      if (schema.type === "boolean" && value !== "true" && value !== "false") problems.push(`${parameter.name} must be a boolean`);
      if (Array.isArray(schema.enum) && !schema.enum.includes(value)) {
        problems.push(`${parameter.name} must be one of ${schema.enum.join(", ")}`);
      }
    }
  }
  return problems;
}

/** Starts the fake on a free loopback port. Call `close()` when done (it also clears pending timers). */
export async function startFakeFly(options: FakeFlyOptions = {}): Promise<FakeFly> {
  const token = options.token ?? "fake-fly-token";
  const app = options.app ?? "fleetdeck-test";
  const transitionMs = options.transitionMs ?? 20;
  const operations = operationsOf(options.specPath ?? DEFAULT_SPEC);

  const machines = new Map<string, FakeFlyMachine>();
  const faults = new Map<string, FakeFlyFault[]>();
  const requests: FakeFlyRequest[] = [];
  const validationErrors: string[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const waiters = new Set<() => void>();
  const sockets = new Set<import("node:net").Socket>();
  let ipCounter = 1;

  const later = (ms: number, run: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      run();
    }, ms);
    timers.add(timer);
  };
  const sleep = (ms: number) => new Promise<void>((resolve) => later(ms, resolve));

  const touch = (machine: FakeFlyMachine, state: string) => {
    machine.state = state;
    machine.updated_at = new Date().toISOString();
    for (const wake of [...waiters]) wake();
  };

  /** Moves through `via` to `to` after `transitionMs`, unless something else changed the machine meanwhile. */
  const transition = (machine: FakeFlyMachine, via: string, to: string) => {
    touch(machine, via);
    const version = machine.version;
    later(transitionMs, () => {
      if (machine.state === via && machine.version === version) touch(machine, to);
    });
  };

  const imageRef = (image: string): FakeFlyMachine["image_ref"] => {
    const [repository = image, tag = "latest"] = image.replace(/^[^/]+\//, "").split(":");
    return { registry: image.split("/")[0] ?? "", repository, tag, digest: "sha256:fake", labels: {} };
  };

  const error = (status: number, message: string, flyStatus?: string) => ({
    status,
    body: { error: message, ...(flyStatus ? { status: flyStatus } : {}) },
  });

  type Result = { status: number; body?: unknown; headers?: Record<string, string> };
  type Context = { params: Record<string, string>; query: URLSearchParams; body: Json | undefined };

  const live = (id: string | undefined) => {
    const machine = id ? machines.get(id) : undefined;
    return machine && machine.state !== "destroyed" ? machine : undefined;
  };
  const metadataOf = (machine: FakeFlyMachine) => machine.config.metadata ?? {};

  const handlers: Record<FakeFlyOperation, (context: Context) => Result | Promise<Result>> = {
    Machines_list: ({ query }) => {
      const includeDeleted = query.get("include_deleted") === "true";
      const states = query.get("state")?.split(",");
      const filters = [...query.entries()].filter(([name]) => name.startsWith("metadata."));
      const body = [...machines.values()].filter(
        (machine) =>
          (includeDeleted || machine.state !== "destroyed") &&
          (!query.get("region") || machine.region === query.get("region")) &&
          (!states || states.includes(machine.state)) &&
          filters.every(([name, value]) => metadataOf(machine)[name.slice("metadata.".length)] === value),
      );
      return { status: 200, body };
    },

    Machines_create: ({ body }) => {
      const name = typeof body?.name === "string" && body.name ? body.name : `fake-${newMachineId()}`;
      if ([...machines.values()].some((machine) => machine.name === name && machine.state !== "destroyed")) {
        return error(409, `a machine named ${name} already exists`, "name_taken");
      }
      const config = (body?.config ?? {}) as FakeFlyMachine["config"];
      const now = new Date().toISOString();
      const version = newMachineVersion();
      const machine: FakeFlyMachine = {
        id: newMachineId(),
        name,
        state: "created",
        region: typeof body?.region === "string" ? body.region : "iad",
        version,
        instance_id: version,
        private_ip: `fdaa:0:1:a7b:1::${(ipCounter++).toString(16)}`,
        config: structuredClone(config),
        image_ref: imageRef(String(config.image ?? "")),
        created_at: now,
        updated_at: now,
        events: [],
        host_status: "ok",
      };
      machines.set(machine.id, machine);
      if (!body?.skip_launch) transition(machine, "starting", "started");
      return { status: 200, body: machine };
    },

    Machines_show: ({ params }) => {
      const machine = machines.get(params.machine_id!);
      return machine ? { status: 200, body: machine } : error(404, "machine not found");
    },

    Machines_update: ({ params, body }) => {
      const machine = live(params.machine_id);
      if (!machine) return error(404, "machine not found");
      if (typeof body?.current_version === "string" && body.current_version !== machine.version) {
        return error(409, `machine version ${body.current_version} is not current (${machine.version})`);
      }
      machine.config = structuredClone((body?.config ?? {}) as FakeFlyMachine["config"]);
      machine.image_ref = imageRef(String(machine.config.image ?? ""));
      machine.version = newMachineVersion();
      machine.instance_id = machine.version;
      if (body?.skip_launch) touch(machine, machine.state);
      else transition(machine, machine.state === "started" ? "replacing" : "starting", "started");
      return { status: 200, body: machine };
    },

    Machines_start: ({ params }) => {
      const machine = live(params.machine_id);
      if (!machine) return error(404, "machine not found");
      const previous = machine.state;
      if (!["starting", "started", "replacing"].includes(previous)) transition(machine, "starting", "started");
      return { status: 200, body: { previous_state: previous } };
    },

    Machines_stop: ({ params }) => {
      const machine = live(params.machine_id);
      if (!machine) return error(404, "machine not found");
      if (["starting", "started", "replacing"].includes(machine.state)) transition(machine, "stopping", "stopped");
      return { status: 200, body: { ok: true } };
    },

    Machines_delete: ({ params, query }) => {
      const machine = live(params.machine_id);
      if (!machine) return error(404, "machine not found");
      if (["starting", "started", "replacing"].includes(machine.state) && query.get("force") !== "true") {
        return error(412, "failed_precondition: unable to destroy machine, not currently stopped, suspended or failed");
      }
      transition(machine, "destroying", "destroyed");
      return { status: 200, body: { ok: true } };
    },

    Machines_wait: ({ params, query }) => {
      const machine = machines.get(params.machine_id!);
      if (!machine) return error(404, "machine not found");
      const states = query.getAll("state").flatMap((value) => value.split(","));
      const wanted = states.length > 0 ? states : ["started"];
      const version = query.get("version") ?? query.get("instance_id");
      if (version && version !== machine.version) {
        return error(400, `machine version ${version} is not the current version (${machine.version})`);
      }
      const timeoutS = Math.min(60, Number(query.get("timeout") ?? 60));
      const reached = (): Result | undefined =>
        wanted.includes(machine.state)
          ? { status: 200, body: { ok: true, state: machine.state, version: machine.version, event_id: newMachineVersion() } }
          : undefined;
      const now = reached();
      if (now) return now;
      return new Promise<Result>((resolve) => {
        const wake = () => {
          const result = reached();
          if (!result) return;
          waiters.delete(wake);
          resolve(result);
        };
        waiters.add(wake);
        later(timeoutS * 1000, () => {
          if (!waiters.delete(wake)) return;
          resolve(error(408, `deadline_exceeded: machine did not reach ${wanted.join(",")} within ${timeoutS}s`));
        });
      });
    },
  };

  const faultResult = (fault: FakeFlyFault): Result | undefined => {
    switch (fault.type) {
      case "status":
        return { status: fault.status, body: fault.body ?? { error: `injected ${fault.status}` }, ...(fault.headers ? { headers: fault.headers } : {}) };
      case "rate_limit":
        return { ...error(429, "rate limit exceeded"), headers: { "retry-after": String(fault.retryAfterSeconds ?? 1) } };
      case "capacity":
        return error(412, "insufficient resources to create new machine", "insufficient_capacity");
      case "wait_timeout":
        return error(408, "deadline_exceeded: injected");
      default:
        return undefined;
    }
  };

  const send = (res: http.ServerResponse, operation: Operation | undefined, result: Result) => {
    const validate = operation?.responseValidators.get(result.status);
    if (validate && result.body !== undefined && !validate(result.body)) {
      // A fake that answers off-spec would make the provider's tests meaningless: fail loudly.
      const problem = `fake-fly answered ${operation!.operationId} ${result.status} off-spec: ${JSON.stringify(validate.errors)}`;
      validationErrors.push(problem);
      result = { status: 500, body: { error: problem } };
    }
    const payload = result.body === undefined ? "" : JSON.stringify(result.body);
    res.writeHead(result.status, { "content-type": "application/json", ...result.headers });
    res.end(payload);
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      void (async () => {
        const url = new URL(req.url ?? "/", "http://fake-fly.invalid");
        const query: Record<string, string[]> = {};
        for (const [name, value] of url.searchParams) (query[name] ??= []).push(value);
        const raw = Buffer.concat(chunks).toString("utf8");
        let body: unknown;
        let bodyUnparsable = false;
        try {
          body = raw === "" ? undefined : JSON.parse(raw);
        } catch {
          bodyUnparsable = true;
        }
        const path = url.pathname;
        const operation = operations.find((candidate) => candidate.method === req.method && candidate.pattern.test(path));
        const entry: FakeFlyRequest = { operationId: operation?.operationId ?? "unknown", method: req.method ?? "", path, query, body, outcome: 0 };
        requests.push(entry);
        const answer = (result: Result) => {
          entry.outcome = result.status;
          send(res, operation, result);
        };
        const drop = () => {
          entry.outcome = "dropped";
          req.socket.destroy();
        };

        if (!operation) return answer(error(404, `no route ${req.method} ${path}`));
        if (req.headers.authorization !== `Bearer ${token}`) return answer(error(401, "unauthorized"));
        const match = operation.pattern.exec(path)!;
        const params = Object.fromEntries(operation.pathParams.map((name, index) => [name, decodeURIComponent(match[index + 1]!)]));
        if (params.app_name !== undefined && params.app_name !== app) return answer(error(404, `app ${params.app_name} not found`));

        const problems: string[] = [];
        for (const parameter of operation.parameters) {
          if (parameter.in !== "query") continue;
          const values = query[parameter.name] ?? [];
          if (parameter.required && values.length === 0) problems.push(`${parameter.name} is required`);
          problems.push(...parameterProblems(parameter, values));
        }
        if (bodyUnparsable) problems.push("body is not JSON");
        else if (body === undefined && operation.bodyRequired) problems.push("body is required");
        else if (body !== undefined && operation.bodyValidator && !operation.bodyValidator(body)) {
          problems.push(...(operation.bodyValidator.errors ?? []).map((e) => `body${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`));
        }
        if (problems.length > 0) {
          validationErrors.push(`${operation.operationId}: ${problems.join("; ")}`);
          return answer(error(400, problems.join("; ")));
        }

        const handler = handlers[operation.operationId as FakeFlyOperation] as ((context: Context) => Result | Promise<Result>) | undefined;
        if (!handler) return answer(error(501, `${operation.operationId} is not implemented by the fake`));
        const context: Context = { params, query: url.searchParams, body: body as Json | undefined };

        const fault = faults.get(operation.operationId)?.shift();
        if (fault) entry.fault = fault.type;
        const injected = fault && faultResult(fault);
        if (injected) return answer(injected);
        if (fault?.type === "drop") return drop();
        if (fault?.type === "drop_after_apply") {
          await handler(context);
          return drop();
        }
        if (fault?.type === "delay") {
          if (fault.apply === "before") {
            const result = await handler(context);
            await sleep(fault.ms);
            return res.destroyed ? drop() : answer(result);
          }
          await sleep(fault.ms);
        }
        const result = await handler(context);
        if (res.destroyed || req.socket.destroyed) return drop();
        answer(result);
      })().catch((failure: unknown) => {
        if (!res.headersSent) send(res, undefined, error(500, `fake-fly crashed: ${String(failure)}`));
      });
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    app,
    token,
    requests,
    validationErrors,
    requestsTo: (operationId) => requests.filter((request) => request.operationId === operationId),
    inject(operationId, fault, times = 1) {
      const queue = faults.get(operationId) ?? [];
      for (let i = 0; i < times; i += 1) queue.push(fault);
      faults.set(operationId, queue);
    },
    machine: (id) => machines.get(id),
    setState(id, state) {
      const machine = machines.get(id);
      if (!machine) throw new Error(`fake-fly: no machine ${id}`);
      touch(machine, state);
    },
    clearRequests: () => void requests.splice(0),
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      waiters.clear();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

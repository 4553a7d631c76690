import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { z } from "zod";
import type { WaitableMachineState } from "../types";
import { createLocalMachineProvider, type LocalMachineProvider, type LocalMachineProviderOptions } from "./provider";
import {
  createBodySchema,
  errorResult,
  flyError,
  fromWireConfig,
  RequestProblem,
  tokenMatches,
  toWireMachine,
  updateBodySchema,
  waitQuerySchema,
  type Result,
} from "./wire";
import type { FlyMachineOperation } from "@/lib/machines/fly/operations";

/**
 * The local machine service: one per host, shared by every control-plane replica on it and outliving
 * them. It speaks the part of Fly's Machines API (shared/reference/fly-machines-openapi.yaml) that
 * the Fly provider uses — list, create, show, update (with `current_version`, 409 on a mismatch, and
 * `skip_launch`), start, stop, wait, delete — so replicas drive local machines with the very same
 * client code as Fly machines. Each machine is a real gateway process supervised by the local
 * provider; the processes die with the service, never with a replica.
 *
 * Besides Fly's API it serves `GET /health` (is a service listening here, which process) and
 * `/gateways/{machine_id}/…`, a loopback proxy to the machine's gateway: the stand-in for Fly's
 * private network name `{id}.vm.{app}.internal`, so a replica reaches a gateway it did not start.
 *
 * Tests can inject faults per operation and read the request log; nothing of that is reachable
 * over HTTP.
 */


export type MachineServiceOperation = FlyMachineOperation;

export type MachineServiceFault =
  /** Answer this status without touching state. */
  | { type: "status"; status: number }
  /** Hold the request this long; `apply: "before"` does the work first and answers late. */
  | { type: "delay"; ms: number; apply?: "before" | "after" }
  /** Reset the connection before doing anything. */
  | { type: "drop" };

export interface MachineServiceRequest {
  operationId: MachineServiceOperation;
  machineId?: string;
  /** `current_version` of an update, when sent. */
  currentVersion?: string;
  /** The status answered, or "dropped". */
  outcome: number | "dropped";
  /** When the request arrived (drills read the order of calls to one machine). */
  receivedAt: Date;
}

export interface MachineServiceOptions {
  /** Bearer token every Machines API request must carry (LOCAL_MACHINES_TOKEN). */
  token: string;
  /** Port on 127.0.0.1; 0 (the default) picks a free one. */
  port?: number;
  /** The one app the service hosts. Default "local". */
  app?: string;
  /** Options of the process supervisor (gateway program, output, grace periods). */
  supervisor?: LocalMachineProviderOptions;
}

export interface MachineService {
  readonly url: string;
  readonly app: string;
  /** The supervisor behind the API (tests look at processes through it). */
  readonly supervisor: LocalMachineProvider;
  /** Every Machines API request, in arrival order (no bodies: configs hold keys). */
  readonly requests: readonly MachineServiceRequest[];
  /** Test seam: the next `times` requests to `operationId` get `fault`. */
  inject(operationId: MachineServiceOperation, fault: MachineServiceFault, times?: number): void;
  /** Stops listening and kills every machine process. */
  close(): Promise<void>;
}

export const DEFAULT_LOCAL_APP = "local";

/** Starts the service on 127.0.0.1. `close()` kills every machine it runs. */
export async function startMachineService(options: MachineServiceOptions): Promise<MachineService> {
  if (options.token.length < 16) throw new Error("machine service: the token must be at least 16 characters");
  const app = options.app ?? DEFAULT_LOCAL_APP;
  const supervisor = createLocalMachineProvider(options.supervisor);
  const requests: MachineServiceRequest[] = [];
  const faults = new Map<MachineServiceOperation, MachineServiceFault[]>();
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => (timers.delete(timer), resolve()), ms);
      timers.add(timer);
    });

  const appPrefix = `/v1/apps/${app}/machines`;
  const route = (method: string, pathname: string): { operationId: MachineServiceOperation; machineId?: string } | undefined => {
    if (!pathname.startsWith(appPrefix)) return undefined;
    const rest = pathname.slice(appPrefix.length).split("/").filter(Boolean).map(decodeURIComponent);
    if (rest.length === 0) return method === "GET" ? { operationId: "Machines_list" } : method === "POST" ? { operationId: "Machines_create" } : undefined;
    const [machineId, action, ...extra] = rest;
    if (extra.length > 0) return undefined;
    if (!action) {
      if (method === "GET") return { operationId: "Machines_show", machineId };
      if (method === "POST") return { operationId: "Machines_update", machineId };
      if (method === "DELETE") return { operationId: "Machines_delete", machineId };
      return undefined;
    }
    const byAction: Record<string, [string, MachineServiceOperation]> = {
      start: ["POST", "Machines_start"],
      stop: ["POST", "Machines_stop"],
      wait: ["GET", "Machines_wait"],
    };
    const found = byAction[action];
    return found && found[0] === method ? { operationId: found[1], machineId } : undefined;
  };

  const parseBody = <T>(schema: z.ZodType<T>, raw: string): T => {
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      throw new RequestProblem(400, "body is not JSON");
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new RequestProblem(400, parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; "));
    return parsed.data;
  };

  const handle = async (operationId: MachineServiceOperation, machineId: string | undefined, url: URL, raw: string, entry: MachineServiceRequest): Promise<Result> => {
    const id = machineId ?? "";
    switch (operationId) {
      case "Machines_list": {
        const metadata = Object.fromEntries([...url.searchParams].filter(([name]) => name.startsWith("metadata.")).map(([name, value]) => [name.slice(9), value]));
        return { status: 200, body: (await supervisor.list({ metadata })).map(toWireMachine) };
      }
      case "Machines_create": {
        const body = parseBody(createBodySchema, raw);
        if (!body.name) throw new RequestProblem(400, "name is required");
        const machine = await supervisor.create({ name: body.name, region: body.region, config: fromWireConfig(body.config), skipLaunch: body.skip_launch });
        return { status: 200, body: toWireMachine(machine) };
      }
      case "Machines_show":
        return { status: 200, body: toWireMachine(await supervisor.get(id)) };
      case "Machines_update": {
        const body = parseBody(updateBodySchema, raw);
        if (body.current_version !== undefined) entry.currentVersion = body.current_version;
        const machine = await supervisor.update(id, {
          config: fromWireConfig(body.config),
          skipLaunch: body.skip_launch,
          currentVersion: body.current_version,
        });
        return { status: 200, body: toWireMachine(machine) };
      }
      case "Machines_start": {
        const previous = (await supervisor.get(id)).state;
        await supervisor.start(id);
        return { status: 200, body: { previous_state: previous } };
      }
      case "Machines_stop":
        await supervisor.stop(id);
        return { status: 200, body: { ok: true } };
      case "Machines_delete":
        await supervisor.destroy(id, { force: url.searchParams.get("force") === "true" });
        return { status: 200, body: { ok: true } };
      case "Machines_wait": {
        const parsed = waitQuerySchema.safeParse({
          state: url.searchParams.getAll("state").flatMap((value) => value.split(",")).filter(Boolean),
          timeout: url.searchParams.get("timeout") ?? undefined,
          version: url.searchParams.get("version") ?? url.searchParams.get("instance_id") ?? undefined,
        });
        if (!parsed.success) throw new RequestProblem(400, parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; "));
        const states = parsed.data.state.flatMap((state): WaitableMachineState[] => (state === "settled" ? ["started", "stopped", "suspended", "failed"] : [state]));
        const reached = await supervisor.waitForAnyState(id, states, { timeoutMs: parsed.data.timeout * 1000, version: parsed.data.version });
        const after = await supervisor.get(id).catch(() => undefined);
        return { status: 200, body: { ok: true, state: reached, ...(after ? { version: after.version } : {}) } };
      }
    }
  };

  /** `/gateways/{id}/rest`: forwards to the machine's gateway on its loopback port. */
  const proxyToGateway = (req: http.IncomingMessage, res: http.ServerResponse, machineId: string, rest: string) => {
    const target = supervisor.processOf(machineId);
    if (!target) {
      res.writeHead(502, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: `machine ${machineId} has no running gateway` }));
      return;
    }
    const upstream = http.request(
      { host: "127.0.0.1", port: target.port, method: req.method, path: rest, headers: { ...req.headers, host: `127.0.0.1:${target.port}` } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: `gateway of machine ${machineId} did not answer` }));
    });
    req.pipe(upstream);
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://machine-service.invalid");
    const gateway = /^\/gateways\/([^/]+)(\/.*)?$/.exec(url.pathname);
    if (gateway) return proxyToGateway(req, res, decodeURIComponent(gateway[1]!), (gateway[2] ?? "/") + url.search);
    if (req.method === "GET" && url.pathname === "/health") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: true, service: "fleetdeck-local-machines", app, pid: process.pid }));
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const answer = (result: Result, entry?: MachineServiceRequest) => {
        if (entry) entry.outcome = result.status;
        res.writeHead(result.status, { "content-type": "application/json" });
        res.end(result.body === undefined ? "" : JSON.stringify(result.body));
      };
      const matched = route(req.method ?? "", url.pathname);
      if (!matched) return answer(flyError(404, `no route ${req.method} ${url.pathname}`));
      if (!tokenMatches(req.headers.authorization, options.token)) return answer(flyError(401, "unauthorized"));
      const entry: MachineServiceRequest = { operationId: matched.operationId, ...(matched.machineId ? { machineId: matched.machineId } : {}), outcome: 0, receivedAt: new Date() };
      requests.push(entry);
      const raw = Buffer.concat(chunks).toString("utf8");
      void (async () => {
        const fault = faults.get(matched.operationId)?.shift();
        if (fault?.type === "status") return answer(flyError(fault.status, `injected ${fault.status}`), entry);
        if (fault?.type === "drop") {
          entry.outcome = "dropped";
          return void req.socket.destroy();
        }
        if (fault?.type === "delay" && fault.apply !== "before") await sleep(fault.ms);
        const result = await handle(matched.operationId, matched.machineId, url, raw, entry).catch(errorResult);
        if (fault?.type === "delay" && fault.apply === "before") await sleep(fault.ms);
        if (res.destroyed || req.socket.destroyed) {
          entry.outcome = "dropped";
          return;
        }
        answer(result, entry);
      })().catch(() => {
        if (!res.headersSent) answer(flyError(500, "machine service failed"), entry);
      });
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    app,
    supervisor,
    requests,
    inject(operationId, fault, times = 1) {
      const queue = faults.get(operationId) ?? [];
      for (let i = 0; i < times; i += 1) queue.push(fault);
      faults.set(operationId, queue);
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
      await supervisor.close();
    },
  };
}

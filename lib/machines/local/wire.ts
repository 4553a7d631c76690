import { timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { isMachineError, waitableStates, type Machine, type MachineConfig } from "../types";

// The machine service's side of Fly's wire format (see service.ts): request bodies it reads,
// machines and errors as Fly answers them.

const stringMap = z.record(z.string(), z.string());
const guestSchema = z.object({ cpu_kind: z.string().optional(), cpus: z.number().int().optional(), memory_mb: z.number().int().optional() }).loose();
// Fly fills in many more config fields; only those the supervisor acts on are read, the rest pass through.
export const configSchema = z.object({ image: z.string().default(""), env: stringMap.default({}), metadata: stringMap.default({}), guest: guestSchema.optional() }).loose();
export const createBodySchema = z.object({ name: z.string().optional(), region: z.string().optional(), config: configSchema, skip_launch: z.boolean().optional() }).loose();
export const updateBodySchema = z
  .object({ config: configSchema, skip_launch: z.boolean().optional(), current_version: z.string().optional(), min_secrets_version: z.number().int().optional() })
  .loose();
export const waitQuerySchema = z.object({
  state: z.array(z.enum([...waitableStates, "settled"])).default(["started"]),
  timeout: z.coerce.number().int().min(1).max(60).default(60),
  version: z.string().min(1).optional(),
});

export type Result = { status: number; body?: unknown };

/** A request the service refuses (bad JSON, a missing field): answered with `status`. */
export class RequestProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function fromWireConfig(config: z.infer<typeof configSchema>): MachineConfig {
  const guest = config.guest;
  return {
    image: config.image,
    env: config.env,
    metadata: config.metadata,
    ...(guest && (guest.cpu_kind === "shared" || guest.cpu_kind === "performance") && guest.cpus !== undefined && guest.memory_mb !== undefined
      ? { guest: { cpuKind: guest.cpu_kind, cpus: guest.cpus, memoryMb: guest.memory_mb } }
      : {}),
  };
}

/** A machine in Fly's `Machine` wire shape. */
export function toWireMachine(machine: Machine) {
  const { guest, ...config } = machine.config;
  return {
    id: machine.id,
    name: machine.name,
    state: machine.state,
    region: machine.region,
    version: machine.version,
    instance_id: machine.version,
    private_ip: "127.0.0.1",
    config: { ...config, ...(guest ? { guest: { cpu_kind: guest.cpuKind, cpus: guest.cpus, memory_mb: guest.memoryMb } } : {}) },
    created_at: machine.createdAt.toISOString(),
    updated_at: machine.updatedAt.toISOString(),
    events: [],
    host_status: "ok",
  };
}

export const flyError = (status: number, message: string): Result => ({ status, body: { error: message } });

/** A supervisor failure as Fly would answer it. */
export function errorResult(error: unknown): Result {
  if (error instanceof RequestProblem) return flyError(error.status, error.message);
  if (!isMachineError(error)) throw error;
  if (error.kind === "not_found") return flyError(404, error.message);
  if (error.kind === "timeout") return flyError(408, `deadline_exceeded: ${error.message}`);
  return flyError(error.status ?? 500, error.message);
}

export function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(/^Bearer (.+)$/.exec(header ?? "")?.[1] ?? "");
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

import { z } from "zod";
import { machineStates, type Machine, type MachineConfig, type MachineGuest } from "../types";

/**
 * The parts of Fly's Machines API wire format this provider reads and writes (field names from
 * `openapi/fly-machines-openapi.yaml`), and the mapping to and from `Machine`. Responses are parsed,
 * never trusted: anything missing that we rely on is an `upstream` error, not a crash later.
 */

const stringMap = z
  .record(z.string(), z.string())
  .nullish()
  .transform((value) => value ?? {});

const flyGuestSchema = z
  .object({ cpu_kind: z.string().optional(), cpus: z.number().optional(), memory_mb: z.number().optional() })
  .loose();

/** `fly.MachineConfig`, reduced to what we manage; Fly's defaults for the rest are ignored. */
export const flyMachineConfigSchema = z
  .object({
    image: z.string().default(""),
    env: stringMap,
    metadata: stringMap,
    guest: flyGuestSchema.nullish(),
  })
  .loose();

const timestamp = z.string().transform((value, ctx) => {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) {
    ctx.addIssue({ code: "custom", message: "not a timestamp" });
    return z.NEVER;
  }
  return date;
});

/** `Machine` as Fly returns it from create, get, update and list. */
export const flyMachineSchema = z
  .object({
    id: z.string().min(1),
    name: z.string().default(""),
    state: z.enum(machineStates),
    region: z.string().default(""),
    version: z.string().min(1).optional(),
    /** Deprecated alias of `version`, still sent by Fly. */
    instance_id: z.string().min(1).optional(),
    config: flyMachineConfigSchema.nullish(),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .loose()
  .refine((machine) => machine.version !== undefined || machine.instance_id !== undefined, {
    message: "machine has neither version nor instance_id",
  })
  .transform(
    (machine): Machine => ({
      id: machine.id,
      name: machine.name,
      state: machine.state,
      region: machine.region,
      version: (machine.version ?? machine.instance_id)!,
      config: fromFlyConfig(machine.config ?? { image: "", env: {}, metadata: {} }),
      createdAt: machine.created_at,
      updatedAt: machine.updated_at,
    }),
  );

export const flyMachineListSchema = z.array(flyMachineSchema);

/** `WaitMachineResponse`. Older API versions answer `{ ok: true }` only. */
export const flyWaitResponseSchema = z
  .object({ ok: z.boolean().optional(), state: z.string().optional(), version: z.string().optional() })
  .loose();

/** `ErrorResponse` (loosely: error bodies are read for a message and a status code only). */
export const flyErrorSchema = z.object({ error: z.string().optional(), status: z.string().optional() }).loose();

export type FlyMachineConfig = {
  image: string;
  env: Record<string, string>;
  metadata: Record<string, string>;
  guest?: { cpu_kind: string; cpus: number; memory_mb: number };
};

export function toFlyConfig(config: MachineConfig): FlyMachineConfig {
  return {
    image: config.image,
    env: { ...config.env },
    metadata: { ...config.metadata },
    ...(config.guest
      ? { guest: { cpu_kind: config.guest.cpuKind, cpus: config.guest.cpus, memory_mb: config.guest.memoryMb } }
      : {}),
  };
}

export function fromFlyConfig(config: z.infer<typeof flyMachineConfigSchema>): MachineConfig {
  const guest = config.guest;
  let mapped: MachineGuest | undefined;
  if (
    guest &&
    (guest.cpu_kind === "shared" || guest.cpu_kind === "performance") &&
    guest.cpus !== undefined &&
    guest.memory_mb !== undefined
  ) {
    mapped = { cpuKind: guest.cpu_kind, cpus: guest.cpus, memoryMb: guest.memory_mb };
  }
  return { image: config.image, env: config.env, metadata: config.metadata, ...(mapped ? { guest: mapped } : {}) };
}

/**
 * Whether `actual` (read back from Fly) carries everything `sent` asked for. Fly may add metadata and
 * fill defaults, so this is containment, not equality. Used to decide whether an update whose answer
 * was lost had been applied.
 */
export function configContains(actual: MachineConfig, sent: MachineConfig): boolean {
  const contains = (big: Record<string, string>, small: Record<string, string>) =>
    Object.entries(small).every(([key, value]) => big[key] === value);
  if (actual.image !== sent.image) return false;
  if (!contains(actual.env, sent.env) || !contains(actual.metadata, sent.metadata)) return false;
  if (sent.guest) {
    const guest = actual.guest;
    if (!guest || guest.cpuKind !== sent.guest.cpuKind || guest.cpus !== sent.guest.cpus || guest.memoryMb !== sent.guest.memoryMb) {
      return false;
    }
  }
  return true;
}

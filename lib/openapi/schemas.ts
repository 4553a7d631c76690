/**
 * Response shapes of the HTTP API as zod schemas, for the OpenAPI document and for the route tests,
 * which check every success body against them. Each is tied to the TypeScript type the route
 * returns (the DTOs), so a field added to a DTO without its schema fails the type check.
 */
import "zod-openapi";
import { z } from "zod";
import type { FleetInstanceDto, FleetPage } from "@/lib/admin/fleet-page";
import type { KeyHealthCounts } from "@/lib/admin/overview";
import { instanceStatusValues } from "@/lib/admin/schemas";
import type { RefreshSummary } from "@/lib/instances/refresh";
import { deployedSignerValues, type DeployedSigner } from "@/lib/admin/schemas";
import type { InstanceConfigDto, InstanceDto, InstanceEventDto, InstanceStatusDto } from "@/lib/instances/dto";
import { LIFECYCLE_OPERATIONS, OPERATION_STEPS } from "@/lib/instances/operation-steps";
import { keyHealthValues, rekeyStateValues } from "@/lib/instances/schemas";
import type { InstanceIdentity } from "@/lib/keys/authenticate";

type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;

const dateTime = z.iso.datetime();
const nullableDateTime = dateTime.nullable();

export const errorBodySchema = z
  .strictObject({
    error: z.strictObject({
      code: z.string().meta({ description: "Stable machine-readable code, e.g. `not_found`, `operation_in_progress`, `misconfigured`." }),
      message: z.string().meta({ description: "Human-readable explanation; never contains key material." }),
      fields: z.record(z.string(), z.array(z.string())).optional().meta({ description: "Per-field problems (422 only)." }),
    }),
  })
  .meta({ id: "Error", description: "Every error, whatever the status." });

export const keyHealthSchema = z.enum(keyHealthValues).meta({
  id: "KeyHealth",
  description:
    "ok (> 7 days left), previous_signing_key (valid, signed under a NEXTAUTH_SECRET being retired; re-keyed automatically), expiring (≤ 7 days), critical (≤ 3 days), expired, revoked (minted under a pepper that is no longer current, or under a signing secret no longer configured), unknown (no expiry recorded), undeployed (latest minted key not confirmed on the machine).",
});

export const instanceStatusValueSchema = z.enum(instanceStatusValues).meta({ id: "InstanceLifecycleStatus" });

export const instanceStatusSchema = z
  .strictObject({
    id: z.uuid(),
    name: z.string(),
    status: instanceStatusValueSchema,
    provider: z.enum(["local", "fly"]),
    machineId: z.string().nullable(),
    region: z.string(),
    imageTag: z.string(),
    operation: z
      .strictObject({ name: z.enum(LIFECYCLE_OPERATIONS), step: z.enum(OPERATION_STEPS).nullable() })
      .nullable()
      .meta({ description: "The lifecycle operation running right now, if any." }),
    lastError: z.strictObject({ code: z.string(), message: z.string(), at: nullableDateTime }).nullable(),
    createdAt: dateTime,
    updatedAt: dateTime,
    lastActivityAt: dateTime,
  })
  .meta({ id: "InstanceStatus", description: "Lifecycle state, machine and timestamps. No key fields." });

export const instanceConfigSchema = z
  .strictObject({
    id: z.uuid(),
    keyId: z.string().nullable().meta({ description: "Short id of the latest minted key (`key_` + 12 hex); never the key." }),
    keySource: z.enum(["minted", "fallback"]).nullable(),
    keyHealth: keyHealthSchema,
    keyExpiresAt: nullableDateTime,
    keyMintedAt: nullableDateTime,
    keyRevokedAt: nullableDateTime,
    deployedKeyId: z.string().nullable(),
    deployedKeyExpiresAt: nullableDateTime,
    deployedAt: nullableDateTime,
    activeKeyExpiresAt: nullableDateTime.meta({
      description: "When the key the instance runs on expires: `deployedKeyExpiresAt`, or `keyExpiresAt` while no key is confirmed deployed.",
    }),
    deployedDiffersFromLatest: z.boolean(),
    rekey: z.enum(rekeyStateValues).nullable().meta({
      description:
        "For a running instance whose key is revoked: `pending` (a live re-key is queued), `in_progress`, or `failed` (see lastError; redeploy to fix). Null otherwise.",
    }),
  })
  .meta({ id: "InstanceConfig", description: "Key metadata: ids, expiries (latest minted and deployed), source and health. Never the key." });

export const instanceSchema = instanceStatusSchema
  .extend({ config: instanceConfigSchema })
  .meta({ id: "Instance", description: "Status and key metadata together." });

export const instanceListSchema = z.strictObject({ instances: z.array(instanceSchema) });

export const fleetInstanceSchema = instanceSchema
  .extend({ owner: z.strictObject({ id: z.uuid(), email: z.string(), name: z.string().nullable() }) })
  .meta({ id: "FleetInstance" });

export const fleetPageSchema = z
  .strictObject({
    instances: z.array(fleetInstanceSchema),
    nextCursor: z.string().nullable().meta({ description: "Pass as `cursor` (with the same sort and order) for the next page; null on the last page." }),
  })
  .meta({ id: "FleetPage" });

export const keyHealthCountsSchema = z
  .strictObject({
    total: z.number().int(),
    buckets: z.strictObject(Object.fromEntries(keyHealthValues.map((value) => [value, z.number().int()])) as Record<(typeof keyHealthValues)[number], z.ZodNumber>),
    computedAt: dateTime,
  })
  .meta({ id: "KeyHealthCounts" });

export const keyHealthSummarySchema = keyHealthCountsSchema
  .extend({
    runningBySigner: z
      .strictObject(Object.fromEntries(deployedSignerValues.map((value) => [value, z.number().int()])) as Record<DeployedSigner, z.ZodNumber>)
      .meta({
        description:
          "Running instances by the NEXTAUTH_SECRET their deployed key is signed under: a rotation is done when `previous`, `retired` and `unrecorded` are 0.",
      }),
    previousSigningSecrets: z.number().int().meta({ description: "How many verify-only secrets NEXTAUTH_SECRET_PREVIOUS holds." }),
  })
  .meta({ id: "KeyHealthSummary" });

export const instanceEventSchema = z
  .strictObject({
    id: z.number().int(),
    action: z.string(),
    outcome: z.enum(["success", "failure", "noop"]),
    actorType: z.enum(["user", "admin", "internal", "scheduler", "system"]),
    actorId: z.string().nullable(),
    keySource: z.enum(["minted", "fallback"]).nullable(),
    keyId: z.string().nullable(),
    errorCode: z.string().nullable(),
    errorMessage: z.string().nullable(),
    durationMs: z.number().int().nullable(),
    createdAt: dateTime,
  })
  .meta({ id: "InstanceEvent" });

export const instanceEventListSchema = z.strictObject({ events: z.array(instanceEventSchema) });

export const refreshSummarySchema = z
  .strictObject({
    reconciled: z.number().int(),
    claimed: z.number().int(),
    refreshed: z.number().int(),
    failed: z.number().int(),
    results: z.array(
      z.strictObject({
        instanceId: z.uuid(),
        outcome: z.enum(["refreshed", "failed"]),
        keyId: z.string().optional(),
        errorCode: z.string().optional(),
      }),
    ),
  })
  .meta({ id: "RefreshSummary" });

export const rotatePepperResultSchema = z
  .strictObject({
    rotatedAt: dateTime,
    revokedKeyCount: z.number().int(),
    runningInstanceCount: z.number().int().meta({ description: "Running instances being re-keyed live now (no restart); watch their `config.rekey`." }),
  })
  .meta({ id: "RotatePepperResult" });

export const whoamiSchema = z
  .strictObject({ userId: z.uuid(), instanceId: z.uuid(), keyId: z.string(), expiresAt: dateTime })
  .meta({ id: "InstanceIdentity" });

type Json<T> = T extends Date ? string : T extends object ? { [K in keyof T]: Json<T[K]> } : T;

export type SchemasMatchTypes = [
  Assert<Exact<z.output<typeof instanceStatusSchema>, InstanceStatusDto>>,
  Assert<Exact<z.output<typeof instanceConfigSchema>, InstanceConfigDto>>,
  Assert<Exact<z.output<typeof instanceSchema>, InstanceDto>>,
  Assert<Exact<z.output<typeof fleetInstanceSchema>, FleetInstanceDto>>,
  Assert<Exact<z.output<typeof fleetPageSchema>, FleetPage>>,
  Assert<Exact<z.output<typeof keyHealthCountsSchema>, KeyHealthCounts>>,
  Assert<Exact<z.output<typeof instanceEventSchema>, InstanceEventDto>>,
  Assert<Exact<z.output<typeof refreshSummarySchema>, RefreshSummary>>,
  Assert<Exact<z.output<typeof whoamiSchema>, Json<InstanceIdentity>>>,
];

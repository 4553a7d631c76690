/** OpenAPI response shapes and paths of the fleet-job routes (app/api/admin/jobs), tied to their DTOs. */
import "zod-openapi";
import type { ZodOpenApiOperationObject, ZodOpenApiPathsObject, ZodOpenApiResponsesObject } from "zod-openapi";
import { z } from "zod";
import type { FleetJobDto, FleetJobPage, FleetJobWithItems } from "@/lib/fleet-jobs/jobs";
import {
  createFleetJobBodySchema,
  fleetJobItemStateValues,
  fleetJobItemsQuerySchema,
  fleetJobKindValues,
  fleetJobParamsSchema,
  fleetJobStateValues,
  listFleetJobsQuerySchema,
} from "@/lib/fleet-jobs/schemas";
import { emptyBodySchema } from "@/lib/http/request";

type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;

const dateTime = z.iso.datetime();

const countsSchema = z.strictObject(Object.fromEntries(fleetJobItemStateValues.map((state) => [state, z.number().int()])) as Record<(typeof fleetJobItemStateValues)[number], z.ZodNumber>);

export const fleetJobSchema = z
  .strictObject({
    id: z.uuid(),
    kind: z.enum(fleetJobKindValues),
    state: z.enum(fleetJobStateValues).meta({ description: "running (being worked), paused, cancelled or finished (every item has an outcome)." }),
    createdBy: z.strictObject({ id: z.uuid().nullable(), email: z.string().nullable() }),
    selection: z.record(z.string(), z.unknown()).meta({ description: "How the targets were chosen, as given at creation." }),
    totalItems: z.number().int(),
    counts: countsSchema.meta({ description: "Items per state." }),
    createdAt: dateTime,
    updatedAt: dateTime,
    finishedAt: dateTime.nullable(),
  })
  .meta({ id: "FleetJob" });

const fleetJobItemSchema = z.strictObject({
  position: z.number().int(),
  target: z.strictObject({ type: z.enum(["instance", "owner"]), id: z.uuid(), name: z.string().nullable(), ownerEmail: z.string().nullable() }),
  state: z.enum(fleetJobItemStateValues),
  attempts: z.number().int(),
  error: z.strictObject({ code: z.string(), message: z.string() }).nullable(),
  startedAt: dateTime.nullable(),
  finishedAt: dateTime.nullable(),
});

export const fleetJobWithItemsSchema = fleetJobSchema
  .extend({ items: z.array(fleetJobItemSchema), nextCursor: z.number().int().nullable() })
  .meta({ id: "FleetJobWithItems" });

export const fleetJobPageSchema = z.strictObject({ jobs: z.array(fleetJobSchema), nextCursor: z.uuid().nullable() }).meta({ id: "FleetJobPage" });

export type FleetJobSchemasMatchTypes = [
  Assert<Exact<z.output<typeof fleetJobSchema>, FleetJobDto>>,
  Assert<Exact<z.output<typeof fleetJobWithItemsSchema>, FleetJobWithItems>>,
  Assert<Exact<z.output<typeof fleetJobPageSchema>, FleetJobPage>>,
];

type Helpers = {
  operation: (audience: "admin", summary: string, rest: Omit<ZodOpenApiOperationObject, "tags" | "summary" | "security">) => ZodOpenApiOperationObject;
  ok: (schema: z.ZodType, description: string, status?: number) => ZodOpenApiResponsesObject;
  errors: (...statuses: number[]) => ZodOpenApiResponsesObject;
};

/** The fleet-job paths, built with the document's own helpers. */
export function fleetJobPaths({ operation, ok, errors }: Helpers): ZodOpenApiPathsObject {
  const byId = { path: fleetJobParamsSchema };
  const transition = (verb: "pause" | "resume" | "cancel", summary: string) =>
    operation("admin", summary, {
      operationId: `${verb}FleetJob`,
      requestParams: byId,
      requestBody: { required: false, description: "No input: send no body, or `{}`.", content: { "application/json": { schema: emptyBodySchema } } },
      responses: { ...ok(fleetJobSchema, "The job after the change."), ...errors(400, 401, 403, 404, 405, 409, 413, 415, 422) },
    });
  return {
    "/api/admin/jobs": {
      get: operation("admin", "List fleet jobs, newest first, with counts by item state", {
        operationId: "listFleetJobs",
        requestParams: { query: listFleetJobsQuerySchema },
        responses: { ...ok(fleetJobPageSchema, "One page of jobs."), ...errors(401, 403, 405, 422) },
      }),
      post: operation("admin", "Start a fleet job: redeploy, start, stop or revoke keys over a selection or everything matching the fleet filters", {
        operationId: "createFleetJob",
        description:
          "The selection is resolved now to a fixed list. The job runs server-side on whichever replica claims its items, each through the same lifecycle operation and lease as a single click; it survives the browser closing and replica restarts.",
        requestBody: { required: true, content: { "application/json": { schema: createFleetJobBodySchema } } },
        responses: { ...ok(fleetJobSchema, "The new job.", 201), ...errors(400, 401, 403, 405, 413, 415, 422) },
      }),
    },
    "/api/admin/jobs/{id}": {
      get: operation("admin", "A fleet job with its counts and one page of its items (outcome and error per item)", {
        operationId: "getFleetJob",
        requestParams: { ...byId, query: fleetJobItemsQuerySchema },
        responses: { ...ok(fleetJobWithItemsSchema, "The job."), ...errors(401, 403, 404, 405, 422) },
      }),
    },
    "/api/admin/jobs/{id}/pause": { post: transition("pause", "Pause a running job (items in progress finish)") },
    "/api/admin/jobs/{id}/resume": { post: transition("resume", "Resume a paused job") },
    "/api/admin/jobs/{id}/cancel": { post: transition("cancel", "Cancel a job for good (its pending items become cancelled)") },
  };
}

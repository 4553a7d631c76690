import "zod-openapi";
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject, type ZodOpenApiResponsesObject } from "zod-openapi";
import { z } from "zod";
import { fleetQuerySchema, instanceEventsQuerySchema } from "@/lib/admin/schemas";
import { emptyBodySchema } from "@/lib/http/request";
import { MAX_BODY_BYTES } from "@/lib/http/body";
import { instanceParamsSchema } from "@/lib/instances/schemas";
import { signedOutEverywhereSchema, userIdSchema, userLimitsBodySchema, userLimitsSchema } from "@/lib/users/schemas";
import { fleetJobPaths } from "./fleet-jobs";
import { platformProvisionBodySchema, provisionHeadersSchema, refreshKeysBodySchema } from "@/lib/platform/schemas";
import {
  errorBodySchema,
  fleetPageSchema,
  instanceConfigSchema,
  instanceEventListSchema,
  instanceListSchema,
  instanceSchema,
  instanceStatusSchema,
  keyHealthSummarySchema,
  refreshSummarySchema,
  rotatePepperResultSchema,
  whoamiSchema,
} from "./schemas";

const errorDescriptions: Record<number, string> = {
  400: "Malformed request (e.g. the body is not JSON, or a bad cursor).",
  401: "Missing or invalid credentials.",
  403: "Signed in, but not an administrator; or a session call that is not same-origin JSON (`csrf_rejected`).",
  404: "No such instance — also for another user's instance and for malformed ids.",
  405: "Method not supported on this path.",
  409: "Another operation is in progress on the instance (`operation_in_progress`), an Idempotency-Key was reused with another request (`conflict`), the owner has their quota of instances (`quota_exceeded`), or a job is not in a state that allows this (`invalid_state`).",
  413: `The body is larger than ${MAX_BODY_BYTES / 1024} KiB.`,
  415: "The body is not application/json.",
  422: "The input has the wrong shape or types (`validation_failed`, with `fields`).",
  429: "Too many operations by this user (`rate_limited`); `Retry-After` says when to try again.",
  502: "The machine provider failed (`machine_error`) or the gateway did not confirm the new key (`credential_unverified`).",
  503: "`misconfigured` (a required secret is unset; answered before any work), `key_unavailable` (no usable key; the machine was not touched) or `database_unavailable` (the database is unreachable; retry after the `Retry-After` seconds).",
};

function errors(...statuses: number[]): ZodOpenApiResponsesObject {
  return Object.fromEntries(
    statuses.map((status) => [
      String(status),
      { description: errorDescriptions[status] ?? "Error.", content: { "application/json": { schema: errorBodySchema } } },
    ]),
  );
}

function ok(schema: z.ZodType, description: string, status = 200): ZodOpenApiResponsesObject {
  return { [String(status)]: { description, content: { "application/json": { schema } } } };
}

const optionalEmptyBody = {
  required: false,
  description: "No input: send no body, or `{}`.",
  content: { "application/json": { schema: emptyBodySchema } },
};

const session = [{ session: [] }];
const internal = [{ internalBearer: [] }];

type Audience = "user" | "admin" | "platform" | "cron" | "instance";

function operation(audience: Audience, summary: string, rest: Omit<ZodOpenApiOperationObject, "tags" | "summary" | "security">): ZodOpenApiOperationObject {
  const security = { user: session, admin: session, platform: internal, cron: [{ cronBearer: [] }], instance: [{ instanceKey: [] }] }[audience];
  return { tags: [audience], summary, security, ...rest };
}

const byId = { path: instanceParamsSchema };

/** User or platform actions on one instance: start, stop, redeploy. */
function action(audience: "user" | "platform", verb: "start" | "stop" | "redeploy"): ZodOpenApiOperationObject {
  const mints = verb !== "stop";
  const summary = {
    start: "Start the instance with a freshly minted key (no-op when already running)",
    stop: "Stop the instance",
    redeploy: "Redeploy the instance with a freshly minted key",
  }[verb];
  return operation(audience, summary, {
    operationId: `${audience}${verb[0]!.toUpperCase()}${verb.slice(1)}Instance`,
    requestParams: byId,
    requestBody: optionalEmptyBody,
    responses: {
      ...ok(instanceSchema, "The instance after the operation."),
      ...errors(400, 401, ...(audience === "user" ? [403, 429] : []), 404, 405, 409, 413, 415, 422, 502, 503),
    },
    ...(mints ? { description: "Answers 503 `misconfigured` before any work when NEXTAUTH_SECRET is unset." } : {}),
  });
}

function reads(audience: "user" | "platform") {
  return {
    status: operation(audience, "Lifecycle status (state, machine, timestamps; no key fields)", {
      operationId: `${audience}GetInstanceStatus`,
      requestParams: byId,
      responses: { ...ok(instanceStatusSchema, "The status."), ...errors(401, 404, 405, 503) },
    }),
    config: operation(audience, "Key metadata (ids, expiries, source, health; never the key)", {
      operationId: `${audience}GetInstanceConfig`,
      requestParams: byId,
      responses: { ...ok(instanceConfigSchema, "The key metadata."), ...errors(401, 404, 405, 503) },
    }),
  };
}

const userReads = reads("user");
const platformReads = reads("platform");

/** Every route of the HTTP API, by path and method (the OpenAPI test checks this against app/api). */
export const apiPaths: ZodOpenApiPathsObject = {
  "/api/instances": {
    get: operation("user", "List your instances", {
      operationId: "listInstances",
      responses: { ...ok(instanceListSchema, "Your live instances, newest first."), ...errors(401, 405) },
    }),
  },
  "/api/instances/{id}/status": { get: userReads.status },
  "/api/instances/{id}/config": { get: userReads.config },
  "/api/instances/{id}/start": { post: action("user", "start") },
  "/api/instances/{id}/stop": { post: action("user", "stop") },
  "/api/instances/{id}/redeploy": { post: action("user", "redeploy") },
  "/api/account/rotate-pepper": {
    post: operation("user", "Rotate your token pepper, revoking every API key minted so far", {
      operationId: "rotatePepper",
      description: "Running instances are then re-keyed live, without a restart, within seconds.",
      responses: { ...ok(rotatePepperResultSchema, "When the pepper was rotated, how many stored keys were revoked and how many running instances are being re-keyed."), ...errors(400, 401, 403, 413, 415, 422) },
    }),
  },
  "/api/admin/users/{id}/rotate-pepper": {
    post: operation("admin", "Revoke every API key of a user (rotate their pepper); their running instances are re-keyed live", {
      operationId: "adminRotateUserPepper",
      requestParams: { path: z.object({ id: z.uuid() }) },
      requestBody: optionalEmptyBody,
      responses: { ...ok(rotatePepperResultSchema, "The rotation; recorded with the admin as actor."), ...errors(400, 401, 403, 404, 405, 413, 415, 422) },
    }),
  },
  "/api/admin/instances": {
    get: operation("admin", "List the fleet: filter by key health, status and owner; sort; keyset pagination", {
      operationId: "listFleetInstances",
      requestParams: { query: fleetQuerySchema },
      responses: { ...ok(fleetPageSchema, "One page of instances."), ...errors(400, 401, 403, 405, 422) },
    }),
  },
  "/api/admin/key-health": {
    get: operation("admin", "Count live instances per key-health bucket", {
      operationId: "countKeyHealth",
      responses: { ...ok(keyHealthSummarySchema, "Counts per bucket, and running instances per signing secret."), ...errors(401, 403, 405) },
    }),
  },
  "/api/admin/instances/{id}/redeploy": {
    post: operation("admin", "Redeploy any user's instance with a freshly minted key", {
      operationId: "adminRedeployInstance",
      description: "Answers 503 `misconfigured` before any work when NEXTAUTH_SECRET is unset.",
      requestParams: byId,
      requestBody: optionalEmptyBody,
      responses: { ...ok(instanceSchema, "The instance after the redeploy."), ...errors(400, 401, 403, 404, 405, 409, 413, 415, 422, 502, 503) },
    }),
  },
  "/api/admin/users/{id}": {
    patch: operation("admin", "Set one user's instance quota (null: back to MAX_INSTANCES_PER_USER)", {
      operationId: "setUserLimits",
      requestParams: { path: z.object({ id: userIdSchema }) },
      requestBody: { required: true, content: { "application/json": { schema: userLimitsBodySchema } } },
      responses: { ...ok(userLimitsSchema, "The user's quota."), ...errors(400, 401, 403, 404, 405, 413, 415, 422) },
    }),
  },
  "/api/admin/users/{id}/sign-out-everywhere": {
    post: operation("admin", "End every session of a user at once", {
      operationId: "signUserOutEverywhere",
      requestParams: { path: z.object({ id: userIdSchema }) },
      requestBody: optionalEmptyBody,
      responses: { ...ok(signedOutEverywhereSchema, "Every session of the user has ended."), ...errors(400, 401, 403, 404, 405, 413, 415, 422) },
    }),
  },
  "/api/admin/instances/{id}/events": {
    get: operation("admin", "An instance's audit log, newest first (destroyed instances included)", {
      operationId: "listInstanceEvents",
      requestParams: { ...byId, query: instanceEventsQuerySchema },
      responses: { ...ok(instanceEventListSchema, "The events."), ...errors(401, 403, 404, 405, 422) },
    }),
  },
  ...fleetJobPaths({ operation, ok, errors }),
  "/api/platform/instances": {
    post: operation("platform", "Provision an instance for a user", {
      operationId: "provisionInstance",
      description:
        "Creates the instance record in state `provisioned` (the first start mints its key and creates its machine). Send an Idempotency-Key to make retries safe. Answers 503 `misconfigured` before any work when NEXTAUTH_SECRET or INTERNAL_API_SECRET is unset.",
      requestParams: { header: provisionHeadersSchema },
      requestBody: { required: true, content: { "application/json": { schema: platformProvisionBodySchema } } },
      responses: {
        ...ok(instanceSchema, "The new instance (or, for a repeated Idempotency-Key, the one the first call created; then `Idempotent-Replayed: true`).", 201),
        ...errors(400, 401, 404, 405, 409, 413, 415, 422, 503),
      },
    }),
  },
  "/api/platform/instances/{id}": {
    delete: operation("platform", "Destroy an instance and its machine", {
      operationId: "destroyInstance",
      requestParams: byId,
      responses: { ...ok(instanceStatusSchema, "The destroyed instance's final status."), ...errors(401, 404, 405, 409, 502, 503) },
    }),
  },
  "/api/platform/instances/{id}/status": { get: platformReads.status },
  "/api/platform/instances/{id}/config": { get: platformReads.config },
  "/api/platform/instances/{id}/start": { post: action("platform", "start") },
  "/api/platform/instances/{id}/stop": { post: action("platform", "stop") },
  "/api/platform/instances/{id}/redeploy": { post: action("platform", "redeploy") },
  "/api/cron/refresh-keys": {
    post: operation("cron", "Refresh running instances' keys that expire soon or were revoked", {
      operationId: "refreshKeys",
      description: "One scheduler pass; safe to call as often as you like. Answers 503 `misconfigured` before any work when NEXTAUTH_SECRET or CRON_SECRET is unset.",
      requestBody: { required: false, content: { "application/json": { schema: refreshKeysBodySchema } } },
      responses: { ...ok(refreshSummarySchema, "What the pass did."), ...errors(400, 401, 405, 413, 415, 422, 503) },
    }),
  },
  "/api/gateway/whoami": {
    get: operation("instance", "An instance proves who it is with its API key", {
      operationId: "whoami",
      responses: { ...ok(whoamiSchema, "The key is valid."), ...errors(401, 503) },
    }),
  },
};

let cached: ReturnType<typeof createDocument> | undefined;

/** The OpenAPI 3.1 document of the HTTP API, generated from the routes' own zod schemas (built once). */
export function getOpenApiDocument(): ReturnType<typeof createDocument> {
  cached ??= createDocument({
    openapi: "3.1.0",
    info: {
      title: "Fleetdeck API",
      version: "1.0.0",
      description:
        'Control plane for hosted agent-gateway instances. Every error is `{"error": {"code", "message"}}`; no response ever contains an API key.',
    },
    tags: [
      { name: "user", description: "Dashboard users (next-auth session cookie)." },
      { name: "admin", description: "Administrators (session + `admin` role read from the database)." },
      { name: "platform", description: "Internal services (`Authorization: Bearer $INTERNAL_API_SECRET`)." },
      { name: "cron", description: "The scheduler (`Authorization: Bearer $CRON_SECRET`)." },
      { name: "instance", description: "Instances themselves (`Authorization: Bearer <instance API key>`)." },
    ],
    components: {
      securitySchemes: {
        session: { type: "apiKey", in: "cookie", name: "next-auth.session-token", description: "Sign in through /api/auth (next-auth)." },
        internalBearer: { type: "http", scheme: "bearer", description: "INTERNAL_API_SECRET." },
        cronBearer: { type: "http", scheme: "bearer", description: "CRON_SECRET." },
        instanceKey: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "The instance's own API key." },
      },
    },
    paths: apiPaths,
  });
  return cached;
}

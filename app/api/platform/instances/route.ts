// POST /api/platform/instances — internal services provision an instance for a user, idempotent per Idempotency-Key; Bearer INTERNAL_API_SECRET.
import { getLifecycleDeps } from "@/lib/instances";
import { readJsonBody } from "@/lib/http/body";
import { methodNotAllowed, withInternalAuth } from "@/lib/http/handlers";
import { readHeaders } from "@/lib/http/request";
import { jsonResponse } from "@/lib/http/responses";
import { provisionInstanceIdempotently } from "@/lib/platform/provision";
import { platformProvisionBodySchema, provisionHeadersSchema } from "@/lib/platform/schemas";

export const dynamic = "force-dynamic";

export const POST = withInternalAuth(async ({ request }) => {
  const { "Idempotency-Key": idempotencyKey } = readHeaders(request, provisionHeadersSchema);
  const body = await readJsonBody(request, platformProvisionBodySchema);
  const { instance, replayed } = await provisionInstanceIdempotently({ ...body, idempotencyKey }, await getLifecycleDeps());
  return jsonResponse(instance, {
    status: 201,
    headers: { location: `/api/platform/instances/${instance.id}/status`, ...(replayed ? { "idempotent-replayed": "true" } : {}) },
  });
}, { mints: true });

export const { GET, PUT, PATCH, DELETE } = methodNotAllowed("POST");

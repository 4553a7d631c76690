// POST /api/cron/refresh-keys — the scheduler refreshes running instances' keys before they die; Bearer CRON_SECRET (503 misconfigured first without NEXTAUTH_SECRET).
import { getLifecycleDeps } from "@/lib/instances";
import { refreshDueInstances } from "@/lib/instances/refresh";
import { readJsonBody } from "@/lib/http/body";
import { methodNotAllowed, withCronAuth } from "@/lib/http/handlers";
import { jsonResponse } from "@/lib/http/responses";
import { refreshKeysBodySchema } from "@/lib/platform/schemas";

export const dynamic = "force-dynamic";

export const POST = withCronAuth(async ({ request }) => {
  const { limit } = await readJsonBody(request, refreshKeysBodySchema);
  return jsonResponse(await refreshDueInstances({ limit }, await getLifecycleDeps()));
}, { mints: true });

export const { GET, PUT, PATCH, DELETE } = methodNotAllowed("POST");

// POST /api/cron/refresh-keys — the scheduler refreshes running instances' keys before they die; Bearer CRON_SECRET (503 misconfigured first without NEXTAUTH_SECRET).
import { getLifecycleDeps } from "@/lib/instances";
import { refreshDueInstances } from "@/lib/instances/refresh";
import { readJsonBody } from "@/lib/http/body";
import { methodNotAllowed, withCronAuth } from "@/lib/http/handlers";
import { jsonResponse } from "@/lib/http/responses";
import { timeSchedulerPass } from "@/lib/metrics";
import { refreshKeysBodySchema } from "@/lib/platform/schemas";

export const dynamic = "force-dynamic";

export const POST = withCronAuth(async ({ request }) => {
  const { limit } = await readJsonBody(request, refreshKeysBodySchema);
  const deps = await getLifecycleDeps();
  return jsonResponse(await timeSchedulerPass(() => refreshDueInstances({ limit }, deps)));
}, { mints: true });

export const { GET, PUT, PATCH, DELETE } = methodNotAllowed("POST");

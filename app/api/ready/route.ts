// GET /api/ready — readiness probe for load balancers and Fly checks; unauthenticated. 200 only when
// the database answers and every committed migration is applied, else 503 `not_ready`.
import { withErrorHandling, methodNotAllowed } from "@/lib/http/handlers";
import { requireReady } from "@/lib/health/readiness";

export const dynamic = "force-dynamic";

export const GET = withErrorHandling(async () => {
  return Response.json(await requireReady(), { headers: { "cache-control": "no-store" } });
});

export const { POST, PUT, PATCH, DELETE } = methodNotAllowed("GET");

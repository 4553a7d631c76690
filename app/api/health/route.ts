// Liveness probe for load balancers and the benchmark's baseline; unauthenticated, touches nothing.
export const dynamic = "force-dynamic";

export function GET() {
  return Response.json({ ok: true });
}

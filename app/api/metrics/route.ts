// GET /api/metrics — Prometheus scrapes this replica; Bearer METRICS_TOKEN (404 while it is unset).
import { getDb } from "@/db";
import { methodNotAllowed, withMetricsAuth } from "@/lib/http/handlers";
import { scrapeMetrics } from "@/lib/metrics/scrape";

export const dynamic = "force-dynamic";

export const GET = withMetricsAuth(async () => {
  const { contentType, body } = await scrapeMetrics(getDb);
  return new Response(body, { headers: { "content-type": contentType, "cache-control": "no-store" } });
});

export const { POST, PUT, PATCH, DELETE } = methodNotAllowed("GET");

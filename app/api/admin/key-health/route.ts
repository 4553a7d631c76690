// GET /api/admin/key-health — admins count live instances per key-health bucket and running ones per signing secret; session + admin role from the database.
// Served from this process's fleet overview (lib/admin/overview-cache.ts): at most a few seconds old, as `computedAt` says.
import { getDb } from "@/db";
import { getCachedFleetOverview } from "@/lib/admin/overview-cache";
import { methodNotAllowed, withAdmin } from "@/lib/http/handlers";
import { jsonResponse } from "@/lib/http/responses";

export const dynamic = "force-dynamic";

export const GET = withAdmin(async () => {
  const { total, buckets, runningBySigner, previousSigningSecrets, computedAt } = await getCachedFleetOverview(await getDb());
  return jsonResponse({ total, buckets, runningBySigner, previousSigningSecrets, computedAt });
});

export const { POST, PUT, PATCH, DELETE } = methodNotAllowed("GET");

// GET /api/admin/instances — admins list the whole fleet (filter, sort, keyset pages); next-auth session + admin role from the database.
import { getDb } from "@/db";
import { listFleetInstances } from "@/lib/admin/fleet-page";
import { fleetQuerySchema } from "@/lib/admin/schemas";
import { methodNotAllowed, withAdmin } from "@/lib/http/handlers";
import { readQuery } from "@/lib/http/request";
import { jsonResponse } from "@/lib/http/responses";

export const dynamic = "force-dynamic";

export const GET = withAdmin(async ({ request }) => {
  const query = readQuery(request, fleetQuerySchema, { lists: ["keyHealth", "status"] });
  return jsonResponse(await listFleetInstances(await getDb(), query, new Date()));
});

export const { POST, PUT, PATCH, DELETE } = methodNotAllowed("GET");

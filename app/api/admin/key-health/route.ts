// GET /api/admin/key-health — admins count live instances per key-health bucket; next-auth session + admin role from the database.
import { getDb } from "@/db";
import { countKeyHealth } from "@/lib/admin/fleet";
import { methodNotAllowed, withAdmin } from "@/lib/http/handlers";
import { jsonResponse } from "@/lib/http/responses";

export const dynamic = "force-dynamic";

export const GET = withAdmin(async () => jsonResponse(await countKeyHealth(await getDb(), new Date())));

export const { POST, PUT, PATCH, DELETE } = methodNotAllowed("GET");

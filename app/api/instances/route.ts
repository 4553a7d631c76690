// GET /api/instances — the signed-in user lists their own instances; authorised by the next-auth session.
import { getDb } from "@/db";
import { methodNotAllowed, withUser } from "@/lib/http/handlers";
import { presentInstancesOfUser } from "@/lib/instances/present";
import { jsonResponse } from "@/lib/http/responses";

export const dynamic = "force-dynamic";

export const GET = withUser(async ({ user }) =>
  jsonResponse({ instances: await presentInstancesOfUser(user.id, { db: await getDb(), now: () => new Date() }) }),
);

export const { POST, PUT, PATCH, DELETE } = methodNotAllowed("GET");

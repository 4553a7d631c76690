// PATCH /api/admin/users/{id} — admins set one user's instance quota (null: back to MAX_INSTANCES_PER_USER); session + admin role.
import { getDb } from "@/db";
import { AppError } from "@/lib/errors";
import { readJsonBody } from "@/lib/http/body";
import { methodNotAllowed, withAdmin } from "@/lib/http/handlers";
import { jsonResponse } from "@/lib/http/responses";
import { setUserInstanceQuota } from "@/lib/limits/quota";
import { userIdSchema, userLimitsBodySchema } from "@/lib/users/schemas";

export const dynamic = "force-dynamic";

export const PATCH = withAdmin(async ({ request, params }) => {
  const id = userIdSchema.safeParse(params.id);
  if (!id.success) throw new AppError("not_found", "No such user.");
  const { maxInstances } = await readJsonBody(request, userLimitsBodySchema);
  if (!(await setUserInstanceQuota(await getDb(), id.data, maxInstances))) throw new AppError("not_found", "No such user.");
  return jsonResponse({ id: id.data, maxInstances });
});

export const { GET, POST, PUT, DELETE } = methodNotAllowed("PATCH");

// POST /api/admin/users/{id}/sign-out-everywhere — admins end every session of a user at once; session + admin role.
import { getDb } from "@/db";
import { AppError } from "@/lib/errors";
import { readJsonBody } from "@/lib/http/body";
import { methodNotAllowed, withAdmin } from "@/lib/http/handlers";
import { emptyBodySchema } from "@/lib/http/request";
import { jsonResponse } from "@/lib/http/responses";
import { endAllSessions } from "@/lib/users/users";
import { userIdSchema } from "@/lib/users/schemas";

export const dynamic = "force-dynamic";

export const POST = withAdmin(async ({ request, params, user }) => {
  const id = userIdSchema.safeParse(params.id);
  if (!id.success) throw new AppError("not_found", "No such user.");
  await readJsonBody(request, emptyBodySchema);
  if (!(await endAllSessions(await getDb(), id.data, { type: "admin", id: user.id }))) throw new AppError("not_found", "No such user.");
  return jsonResponse({ id: id.data, signedOutEverywhere: true });
});

export const { GET, PUT, PATCH, DELETE } = methodNotAllowed("POST");

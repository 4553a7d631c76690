// GET /instances/{id}/data — one instance, its recent events and its gateway's report, polled by the
// instance page (session auth; another user's instance is 404).
import { withUser } from "@/lib/http/handlers";
import { instanceParamsSchema } from "@/lib/instances/schemas";
import { AppError } from "@/lib/errors";
import { readInstanceDetail } from "@/lib/instances/read";

export const dynamic = "force-dynamic";

export const GET = withUser(async ({ user, params }) => {
  const parsed = instanceParamsSchema.safeParse(params);
  if (!parsed.success) throw new AppError("not_found", "No such instance.");
  return Response.json(await readInstanceDetail(user.id, parsed.data.id), { headers: { "cache-control": "no-store" } });
});

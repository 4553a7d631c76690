import { AppError } from "@/lib/errors";
import { fleetJobParamsSchema } from "./schemas";

/** The `[id]` route segment as a job id; malformed and unknown ids are both 404. */
export function fleetJobIdParam(params: Record<string, string | string[] | undefined>): string {
  const parsed = fleetJobParamsSchema.safeParse(params);
  if (!parsed.success) throw new AppError("not_found", "No such job.");
  return parsed.data.id;
}

import type { InstanceRow } from "@/db/schema";
import type { LifecycleDeps } from "./deps";
import { toInstanceDto, type InstanceDto } from "./dto";
import { listInstancesForUser } from "./queries";
import { currentPepperFingerprint } from "./status";

/** The instance as API callers see it (status and key metadata, never the key), health as of now. */
export async function presentInstance(row: InstanceRow, deps: Pick<LifecycleDeps, "db" | "now">): Promise<InstanceDto> {
  return toInstanceDto(row, await currentPepperFingerprint(deps, row.ownerId), deps.now());
}

/** The user's live instances as API callers see them, newest first. */
export async function presentInstancesOfUser(userId: string, deps: Pick<LifecycleDeps, "db" | "now">): Promise<InstanceDto[]> {
  const [rows, fingerprint] = await Promise.all([listInstancesForUser(deps.db, userId), currentPepperFingerprint(deps, userId)]);
  const now = deps.now();
  return rows.map((row) => toInstanceDto(row, fingerprint, now));
}

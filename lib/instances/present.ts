import { sql } from "drizzle-orm";
import type { InstanceRow } from "@/db/schema";
import type { LifecycleDeps } from "./deps";
import { toInstanceDto, type InstanceDto } from "./dto";
import { listInstancesForUser } from "./queries";
import { currentPepperFingerprint } from "./status";

/** How long an operation's answer may wait for the owner's pepper before it is built from the row alone. */
export const PRESENT_PEPPER_BUDGET_MS = 300;

/**
 * The instance as API callers see it (status and key metadata, never the key), health as of now.
 * The operation that produced `row` is already done, so its answer never waits long on the users
 * table (locked, or the very reason the operation fell back to the stored key): the pepper read
 * gets PRESENT_PEPPER_BUDGET_MS, after which health is judged from the row alone, which is sound
 * because a pepper rotation marks the stored key revoked in its own transaction.
 */
export async function presentInstance(row: InstanceRow, deps: Pick<LifecycleDeps, "db" | "now">): Promise<InstanceDto> {
  return toInstanceDto(row, await boundedPepperFingerprint(deps, row.ownerId, PRESENT_PEPPER_BUDGET_MS), deps.now());
}

async function boundedPepperFingerprint(deps: Pick<LifecycleDeps, "db">, userId: string, budgetMs: number): Promise<string | null> {
  // Postgres gives up on the lock itself (nothing of ours is left waiting); the client-side
  // deadline covers a server that does not answer at all.
  const read = deps.db.transaction(async (tx) => {
    await tx.execute(sql`select set_config('lock_timeout', ${String(budgetMs)}, true), set_config('statement_timeout', ${String(budgetMs)}, true)`);
    return currentPepperFingerprint({ db: tx }, userId);
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), budgetMs + 200)));
  try {
    return await Promise.race([read, deadline]);
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
    read.catch(() => {});
  }
}

/** The user's live instances as API callers see them, newest first. */
export async function presentInstancesOfUser(userId: string, deps: Pick<LifecycleDeps, "db" | "now">): Promise<InstanceDto[]> {
  const [rows, fingerprint] = await Promise.all([listInstancesForUser(deps.db, userId), currentPepperFingerprint(deps, userId)]);
  const now = deps.now();
  return rows.map((row) => toInstanceDto(row, fingerprint, now));
}

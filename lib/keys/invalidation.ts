import { sql } from "drizzle-orm";
import type { Database } from "@/db";

/**
 * The Postgres NOTIFY channel every replica LISTENs on to drop cached key state: a user's pepper
 * after a rotation, an instance after it is destroyed.
 */
export const KEY_STATE_CHANNEL = "fleetdeck_key_state";

export type KeyStateChange = { userId: string } | { instanceId: string };

/** Anything that can run SQL: the database or an open transaction. */
type Executor = Pick<Database, "execute">;

/**
 * Tells every replica's key-state cache to forget a user's pepper or an instance's state. Call it
 * inside the transaction that makes the change: Postgres delivers the notification only if that
 * transaction commits, and only after it does, so no replica reloads the old value.
 * lib/instances' destroy must call it with `{ instanceId }`, or whoami keeps accepting that
 * instance's key until the cache entry's TTL runs out.
 */
export async function notifyKeyStateChanged(executor: Executor, change: KeyStateChange): Promise<void> {
  await executor.execute(sql`select pg_notify(${KEY_STATE_CHANNEL}, ${encodeKeyStateChange(change)})`);
}

export function encodeKeyStateChange(change: KeyStateChange): string {
  return "userId" in change ? `user:${change.userId}` : `instance:${change.instanceId}`;
}

/** undefined for a payload this version does not understand; callers then drop everything. */
export function decodeKeyStateChange(payload: string): KeyStateChange | undefined {
  const [kind, id] = payload.split(":", 2);
  if (!id) return undefined;
  if (kind === "user") return { userId: id };
  if (kind === "instance") return { instanceId: id };
  return undefined;
}

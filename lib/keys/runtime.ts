import { getDatabaseHandle } from "@/db";
import { databaseKeyStateSource, KeyStateCache } from "./key-state-cache";

const globalForKeys = globalThis as typeof globalThis & {
  fleetdeckKeyStateCache?: Promise<KeyStateCache>;
};

/**
 * The process-wide key-state cache, for route handlers only (lib functions take the cache as a
 * dependency). It subscribes to the invalidation channel before first use; while that
 * subscription is not live (the database is unreachable, or was), it reads through to Postgres,
 * and the subscription keeps reconnecting on its own.
 * Kept on globalThis so development hot reloads keep one cache and one LISTEN connection.
 */
export function getKeyStateCache(): Promise<KeyStateCache> {
  globalForKeys.fleetdeckKeyStateCache ??= (async () => {
    const handle = await getDatabaseHandle();
    const cache = new KeyStateCache(databaseKeyStateSource(handle.db));
    await cache.listen(handle);
    return cache;
  })().catch((error: unknown) => {
    globalForKeys.fleetdeckKeyStateCache = undefined;
    throw error;
  });
  return globalForKeys.fleetdeckKeyStateCache;
}

/** This process's cache if one exists, for callers that must invalidate it but need not create it. */
export async function peekKeyStateCache(): Promise<KeyStateCache | undefined> {
  return globalForKeys.fleetdeckKeyStateCache?.catch(() => undefined);
}

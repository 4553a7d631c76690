import { getEnv } from "@/shared/env";
import { logger } from "@/shared/logger";
import { openDatabase, type Database, type DatabaseHandle } from "./client";
import { applyMigrations } from "./migrate";

export { queryRows, type Database, type DatabaseHandle } from "./client";
export { isDatabaseUnavailable } from "./errors";

const globalForDb = globalThis as typeof globalThis & {
  fleetdeckDatabase?: Promise<DatabaseHandle>;
};

/**
 * The process-wide database, opened from the environment with migrations applied on first use.
 * Kept on globalThis so development hot reloads never open a second PGlite on the same directory.
 */
export function getDatabaseHandle(): Promise<DatabaseHandle> {
  globalForDb.fleetdeckDatabase ??= (async () => {
    const env = getEnv();
    const handle = await openDatabase({
      url: env.DATABASE_URL,
      listenUrl: env.DATABASE_URL_UNPOOLED,
      driver: env.DATABASE_DRIVER,
      pgliteDir: env.PGLITE_DIR,
      onWarning: (message, details) => logger.warn(message, details),
    });
    await applyMigrations(handle);
    return handle;
  })().catch((error: unknown) => {
    globalForDb.fleetdeckDatabase = undefined;
    throw error;
  });
  return globalForDb.fleetdeckDatabase;
}

export async function getDb(): Promise<Database> {
  return (await getDatabaseHandle()).db;
}

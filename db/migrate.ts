import path from "node:path";
import { sql } from "drizzle-orm";
import type { DatabaseHandle } from "./client";

export const MIGRATIONS_FOLDER = path.join(process.cwd(), "db", "migrations");

// Any constant works; it only has to be the same in every replica.
const MIGRATION_LOCK_ID = 727_274_001;

/**
 * Applies the committed drizzle-kit migrations. Safe to call from several replicas at once:
 * on a shared server they queue on an advisory lock and the later ones find nothing to do.
 */
export async function applyMigrations(handle: DatabaseHandle): Promise<void> {
  const config = { migrationsFolder: MIGRATIONS_FOLDER };
  if (handle.driver === "pglite") {
    const { migrate } = await import("drizzle-orm/pglite/migrator");
    await migrate(handle.db as never, config);
    return;
  }
  // The advisory lock is session-scoped, so lock, migrate and unlock inside one transaction's
  // connection: a transaction-level lock releases itself even if this process dies.
  await handle.db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${MIGRATION_LOCK_ID})`);
    const migrator =
      handle.driver === "neon"
        ? await import("drizzle-orm/neon-serverless/migrator")
        : await import("drizzle-orm/node-postgres/migrator");
    await migrator.migrate(tx as never, config);
  });
}

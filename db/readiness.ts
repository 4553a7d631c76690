import { sql } from "drizzle-orm";
import { readMigrationFiles } from "drizzle-orm/migrator";
import { queryRows, type Database } from "./client";
import { MIGRATIONS_FOLDER } from "./migrate";

// Postgres: the schema or table does not exist (nothing was ever migrated here).
const UNDEFINED_TABLE = "42P01";
const INVALID_SCHEMA_NAME = "3F000";

export type MigrationState =
  | { applied: true; migrations: number }
  | { applied: false; pending: number; migrations: number };

let committed: number[] | undefined;

/** When each committed migration (db/migrations) was generated; read once per process, as they cannot change under it. */
function committedMigrations(): number[] {
  committed ??= readMigrationFiles({ migrationsFolder: MIGRATIONS_FOLDER }).map((file) => file.folderMillis);
  return committed;
}

/**
 * Whether every committed migration is applied to `db`, judged as drizzle's migrator judges it
 * (the newest applied migration's timestamp against the newest committed one). Read-only: one
 * small query on the migrations table. A database that cannot be reached throws the driver's error.
 */
export async function getMigrationState(db: Database): Promise<MigrationState> {
  const migrations = committedMigrations();
  let rows: { newest: string | number | null }[];
  try {
    rows = await queryRows(db, sql`select max(created_at) as newest from drizzle.__drizzle_migrations`);
  } catch (error) {
    if (!isMissingTable(error)) throw error;
    rows = [];
  }
  const newest = rows[0]?.newest === null || rows[0]?.newest === undefined ? -Infinity : Number(rows[0].newest);
  // Like the migrator: everything generated after the newest applied migration is pending. A newer
  // replica may have applied migrations this one does not know yet; that leaves nothing pending here.
  const pending = migrations.filter((millis) => millis > newest).length;
  return pending === 0 ? { applied: true, migrations: migrations.length } : { applied: false, pending, migrations: migrations.length };
}

function isMissingTable(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (code === UNDEFINED_TABLE || code === INVALID_SCHEMA_NAME) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * `npm run seed:fleet -- --count N [--per-user K]`: bulk-inserts N instances with a realistic spread
 * of statuses, expiries, revoked keys and signers (NEXTAUTH_SECRET / NEXTAUTH_SECRET_PREVIOUS when
 * set), for the admin fleet view and its benchmark. Uses DATABASE_URL when set, otherwise the
 * embedded PGlite database (stop `npm run dev` first). A large seed locks `users` and `instances`
 * while it loads (indexes are rebuilt after it): a million instances take about half a minute.
 */
import { parseArgs } from "node:util";
import { openDatabase } from "@/db/client";
import { applyMigrations } from "@/db/migrate";
import { seedFleet } from "@/lib/demo/seed-fleet";
import { keyRingFromEnv } from "@/lib/tokens/configured";
import { keyRingIds } from "@/lib/tokens/key-ring";
import { parseEnv } from "@/shared/env";
import { loadLocalEnv } from "./load-env";

async function main() {
  const { values } = parseArgs({ options: { count: { type: "string", default: "1000" }, "per-user": { type: "string", default: "2" } } });
  const count = Number(values.count);
  if (!Number.isInteger(count) || count < 1 || count > 5_000_000) throw new Error("--count must be a whole number between 1 and 5,000,000");
  loadLocalEnv();
  const env = parseEnv(process.env);
  // Bulk statements over millions of rows may run longer than the app's per-statement limits.
  const handle = await openDatabase({ url: env.DATABASE_URL, driver: env.DATABASE_DRIVER, pgliteDir: env.PGLITE_DIR, timeouts: { statementMs: 0, queryMs: 0 } });
  try {
    await applyMigrations(handle);
    const started = performance.now();
    const ring = keyRingFromEnv(env);
    const signingKeys = ring ? keyRingIds(ring) : null;
    const result = await seedFleet(handle.db, { count, instancesPerUser: Number(values["per-user"]), signingKeys });
    console.log(`Seeded ${result.instances} instances for ${result.users} users in ${((performance.now() - started) / 1000).toFixed(1)} s.`);
  } finally {
    await handle.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

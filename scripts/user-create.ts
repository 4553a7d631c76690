/**
 * `npm run user:create -- --email E --password P [--name N] [--admin]`: creates the user, or
 * updates the one with that email. Uses DATABASE_URL when set, otherwise the embedded PGlite
 * database (stop `npm run dev` first: two processes must not open one PGlite directory).
 */
import { parseArgs } from "node:util";
import { ZodError } from "zod";
import { openDatabase } from "@/db/client";
import { applyMigrations } from "@/db/migrate";
import { parseEnv } from "@/lib/env";
import { upsertUser } from "@/lib/users/users";
import { loadLocalEnv } from "./load-env";

async function main() {
  const { values } = parseArgs({
    options: {
      email: { type: "string" },
      password: { type: "string" },
      name: { type: "string" },
      admin: { type: "boolean", default: false },
    },
  });
  if (!values.email) throw new Error("Usage: npm run user:create -- --email E --password P [--name N] [--admin]");
  loadLocalEnv();
  const env = parseEnv(process.env);
  const handle = await openDatabase({ url: env.DATABASE_URL, driver: env.DATABASE_DRIVER, pgliteDir: env.PGLITE_DIR });
  try {
    await applyMigrations(handle);
    const { user, created } = await upsertUser(handle.db, {
      email: values.email,
      password: values.password,
      name: values.name,
      role: values.admin ? "admin" : undefined,
    });
    console.log(`${created ? "Created" : "Updated"} ${user.role} ${user.email} (${user.id}).`);
  } finally {
    await handle.close();
  }
}

main().catch((error: unknown) => {
  const message = error instanceof ZodError ? error.issues.map((issue) => issue.message).join("; ") : error instanceof Error ? error.message : String(error);
  console.error(message);
  process.exit(1);
});

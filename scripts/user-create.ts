/**
 * `npm run user:create -- --email E [--password P] [--name N] [--admin]`: creates the user, or
 * updates the one with that email (a new password ends the user's sessions). Without --password
 * it asks for one (hidden) on a terminal, or reads the first line of stdin: a password given on the
 * command line stays in the shell history and the process list. Uses DATABASE_URL when set, otherwise the embedded PGlite
 * database (stop `npm run dev` first: two processes must not open one PGlite directory).
 */
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { ZodError } from "zod";
import { openDatabase } from "@/db/client";
import { applyMigrations } from "@/db/migrate";
import { parseEnv } from "@/shared/env";
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
  if (!values.email) throw new Error("Usage: npm run user:create -- --email E [--password P] [--name N] [--admin]");
  const password = values.password ?? (await readPassword());
  loadLocalEnv();
  const env = parseEnv(process.env);
  const handle = await openDatabase({ url: env.DATABASE_URL, driver: env.DATABASE_DRIVER, pgliteDir: env.PGLITE_DIR });
  try {
    await applyMigrations(handle);
    const { user, created } = await upsertUser(handle.db, {
      email: values.email,
      password,
      name: values.name,
      role: values.admin ? "admin" : undefined,
    });
    console.log(`${created ? "Created" : "Updated"} ${user.role} ${user.email} (${user.id}).`);
  } finally {
    await handle.close();
  }
}

/** The password from a hidden terminal prompt, or the first line of piped stdin. */
async function readPassword(): Promise<string> {
  const terminal = process.stdin.isTTY === true;
  const lines = createInterface({ input: process.stdin, output: terminal ? process.stdout : undefined, terminal });
  if (terminal) {
    process.stdout.write("Password: ");
    // Echo nothing while the password is typed.
    (lines as unknown as { _writeToOutput: (text: string) => void })._writeToOutput = () => {};
  }
  try {
    for await (const line of lines) return line;
    throw new Error("No password given: pass --password, type it at the prompt, or pipe it on stdin.");
  } finally {
    lines.close();
    if (terminal) process.stdout.write("\n");
  }
}

main().catch((error: unknown) => {
  const message = error instanceof ZodError ? error.issues.map((issue) => issue.message).join("; ") : error instanceof Error ? error.message : String(error);
  console.error(message);
  process.exit(1);
});

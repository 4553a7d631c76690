/**
 * `npm run dev`: sets up the embedded defaults on first run (random secrets in .env.local, a
 * migrated PGlite database under .data/, demo users) and then runs `next dev`.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { openDatabase } from "@/db/client";
import { applyMigrations } from "@/db/migrate";
import { seedDemoUsersIfEmpty } from "@/lib/demo/seed";
import { parseEnv } from "@/lib/env";
import { loadLocalEnv } from "./load-env";

const ENV_FILE = ".env.local";
const CREDENTIALS_FILE = path.join(".data", "demo-credentials.json");
const port = process.env.PORT ?? "3000";

/** Secrets for the embedded default only; production must configure its own and gets none. */
function ensureLocalSecrets(): void {
  const current = existsSync(ENV_FILE) ? readFileSync(ENV_FILE, "utf8") : "";
  const has = (name: string) => new RegExp(`^${name}=`, "m").test(current) || process.env[name];
  const generated: Record<string, string> = {
    NEXTAUTH_SECRET: randomBytes(32).toString("hex"),
    INTERNAL_API_SECRET: randomBytes(32).toString("hex"),
    CRON_SECRET: randomBytes(32).toString("hex"),
    KEY_ENCRYPTION_KEY: randomBytes(32).toString("hex"),
    GATEWAY_TOKEN_SECRET: randomBytes(32).toString("hex"),
    NEXTAUTH_URL: `http://localhost:${port}`,
  };
  const missing = Object.entries(generated).filter(([name]) => !has(name));
  if (missing.length === 0) return;
  const header = current ? "" : "# Written by `npm run dev` for the embedded defaults. Not for production.\n";
  // Secrets: readable by this user only (an existing file written 0644 by an older version is tightened too).
  appendFileSync(ENV_FILE, header + missing.map(([name, value]) => `${name}=${value}\n`).join(""), { mode: 0o600 });
  chmodSync(ENV_FILE, 0o600);
  console.log(`Wrote ${missing.map(([name]) => name).join(", ")} to ${ENV_FILE}.`);
}

async function prepareEmbeddedDatabase(): Promise<void> {
  const env = parseEnv(process.env);
  const handle = await openDatabase({ pgliteDir: env.PGLITE_DIR });
  try {
    await applyMigrations(handle);
    const seeded = await seedDemoUsersIfEmpty(handle.db);
    if (seeded) {
      mkdirSync(path.dirname(CREDENTIALS_FILE), { recursive: true, mode: 0o700 });
      writeFileSync(CREDENTIALS_FILE, `${JSON.stringify(seeded, null, 2)}\n`, { mode: 0o600 });
    }
    if (existsSync(CREDENTIALS_FILE)) {
      const credentials = JSON.parse(readFileSync(CREDENTIALS_FILE, "utf8")) as { email: string; password: string; role: string }[];
      console.log(`\nSign in at http://localhost:${port} with a demo account (${CREDENTIALS_FILE}):`);
      for (const { email, password, role } of credentials) console.log(`  ${role.padEnd(5)}  ${email}  /  ${password}`);
      console.log("");
    }
  } finally {
    await handle.close();
  }
}

async function main() {
  const embedded = !process.env.DATABASE_URL;
  if (embedded && process.env.NODE_ENV !== "production") ensureLocalSecrets();
  loadLocalEnv(ENV_FILE);
  const env = parseEnv(process.env);
  if (!env.DATABASE_URL) await prepareEmbeddedDatabase();

  // The seeding connection is closed before Next opens the same PGlite directory.
  const next = spawn(path.join("node_modules", ".bin", "next"), ["dev", "-p", port], {
    stdio: "inherit",
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" },
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => next.kill(signal));
  next.on("exit", (code) => process.exit(code ?? 0));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

/**
 * Playwright's web server: a fresh PGlite directory seeded with the e2e accounts, then the
 * production build (`next start`) on a loopback port, its machines on a local machine service in
 * this process. The seeding connection closes before Next opens the directory, and the directory
 * is removed (and the machines killed) when the server stops.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openDatabase } from "@/db/client";
import { applyMigrations } from "@/db/migrate";
import { startMachineService } from "@/lib/machines/local/service";
import { upsertUser } from "@/lib/users/users";
import { seedAdminFixtures } from "./admin-fixtures";
import { E2E_BASE_URL, E2E_PORT, e2eUsers } from "./fixtures";

async function main() {
  const dataDir = mkdtempSync(path.join(tmpdir(), "fleetdeck-e2e-"));
  const pgliteDir = path.join(dataDir, "pglite");
  const handle = await openDatabase({ pgliteDir });
  await applyMigrations(handle);
  await upsertUser(handle.db, e2eUsers.user);
  await upsertUser(handle.db, e2eUsers.other);
  await upsertUser(handle.db, { ...e2eUsers.admin, role: "admin" });
  await seedAdminFixtures(handle.db);
  await handle.close();

  const machinesToken = randomBytes(24).toString("hex");
  const machines = await startMachineService({ token: machinesToken });

  const env = {
    ...process.env,
    LOCAL_MACHINES_URL: machines.url,
    LOCAL_MACHINES_TOKEN: machinesToken,
    NODE_ENV: "production" as const,
    NEXT_TELEMETRY_DISABLED: "1",
    DATABASE_DRIVER: "pglite",
    PGLITE_DIR: pgliteDir,
    NEXTAUTH_URL: E2E_BASE_URL,
    NEXTAUTH_SECRET: process.env.E2E_NEXTAUTH_SECRET ?? randomBytes(32).toString("hex"),
    INTERNAL_API_SECRET: randomBytes(32).toString("hex"),
    CRON_SECRET: process.env.E2E_CRON_SECRET ?? randomBytes(32).toString("hex"),
    METRICS_TOKEN: process.env.E2E_METRICS_TOKEN ?? randomBytes(32).toString("hex"),
    KEY_ENCRYPTION_KEY: randomBytes(32).toString("hex"),
    GATEWAY_TOKEN_SECRET: randomBytes(32).toString("hex"),
    // Lets e2e/dashboard.spec.ts make the key mint fail for one browser (lib/actions/e2e-faults.ts).
    FLEETDECK_E2E_FAULTS: "1",
    // Each test creates its own instances as the same user, faster than any person would.
    MAX_INSTANCES_PER_USER: "1000",
    // No in-process scheduler: a pass at a moment of its choosing would re-key the instances a test
    // holds revoked, or move the counters the metrics suite compares. Tests that want a pass call
    // the cron route, as an external scheduler does.
    SCHEDULER_INTERVAL_SECONDS: "0",
    OPERATION_RATE_LIMIT_PER_MINUTE: "10000",
  };
  const next = spawn(path.join("node_modules", ".bin", "next"), ["start", "-H", "127.0.0.1", "-p", String(E2E_PORT)], {
    stdio: "inherit",
    env,
  });
  const cleanUp = () => rmSync(dataDir, { recursive: true, force: true });
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => next.kill(signal));
  next.on("exit", (code) => {
    cleanUp();
    void machines.close().finally(() => process.exit(code ?? 0));
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

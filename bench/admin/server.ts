/** The production server the admin benchmark measures (`next start` on its PostgreSQL database). */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";

export function startServer(databaseUrl: string, port: number, nextAuthSecret: string): ChildProcess {
  const base = `http://127.0.0.1:${port}`;
  const secret = () => randomBytes(32).toString("hex");
  // Next loads .env files for every variable not already set, so each one is set explicitly.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NEXT_DIST_DIR: process.env.NEXT_DIST_DIR,
    NODE_ENV: "production",
    NEXT_TELEMETRY_DISABLED: "1",
    NEXTAUTH_URL: base,
    GATEWAY_CALLBACK_URL: base,
    DATABASE_URL: databaseUrl,
    DATABASE_DRIVER: "postgres",
    PGLITE_DIR: "",
    NEXTAUTH_SECRET: nextAuthSecret,
    INTERNAL_API_SECRET: secret(),
    CRON_SECRET: secret(),
    KEY_ENCRYPTION_KEY: secret(),
    GATEWAY_TOKEN_SECRET: secret(),
    KILO_TOKEN_ENV: "",
    FLY_API_TOKEN: "",
    FLY_APP_NAME: "",
    GITHUB_ID: "",
    GITHUB_SECRET: "",
    MACHINE_PROVIDER: "local",
    SCHEDULER_INTERVAL_SECONDS: "0",
    FLEETDECK_LOG_LEVEL: "warn",
  };
  // Its own process group, so stopping it cannot leave a next-server child behind.
  return spawn(path.join(process.cwd(), "node_modules/.bin/next"), ["start", "-H", "127.0.0.1", "-p", String(port)], {
    env,
    detached: true,
    stdio: ["ignore", "ignore", "inherit"],
  });
}


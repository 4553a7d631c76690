import { randomBytes } from "node:crypto";
import { defineConfig } from "@playwright/test";
import { E2E_BASE_URL } from "./e2e/fixtures";

// The web server inherits this, so the secrets suite knows exactly what must never leak.
process.env.E2E_NEXTAUTH_SECRET ??= randomBytes(32).toString("hex");
// e2e/metrics.spec.ts scrapes /api/metrics and drives a refresh pass with these.
process.env.E2E_METRICS_TOKEN ??= randomBytes(32).toString("hex");
process.env.E2E_CRON_SECRET ??= randomBytes(32).toString("hex");

// Debian's Chromium: Playwright cannot download its own browser build on these machines.
const chromiumArgs = [
  "--no-sandbox",
  "--headless",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

export default defineConfig({
  testDir: "./e2e",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 15_000 },
  reporter: [["list"]],
  use: {
    baseURL: E2E_BASE_URL,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: chromiumArgs },
  },
  webServer: {
    command: "npx tsx --conditions=react-server e2e/start-server.ts",
    url: `${E2E_BASE_URL}/api/health`,
    reuseExistingServer: false,
    timeout: 120_000,
    stdout: "pipe",
    stderr: "pipe",
  },
});

import { expect, test, type APIRequestContext } from "@playwright/test";
import { parseExposition, sampleValue, type Sample } from "@/test/metrics/exposition";
import { e2eUsers } from "./fixtures";
import { createRunningInstance, redeployAndConfirm, revokeAllKeys, uniqueName } from "./dashboard-helpers";
import { signIn } from "./helpers";

// Set by playwright.config.ts and handed to the server by e2e/start-server.ts.
const metricsToken = process.env.E2E_METRICS_TOKEN ?? "";
const cronSecret = process.env.E2E_CRON_SECRET ?? "";

async function scrape(request: APIRequestContext): Promise<Sample[]> {
  const response = await request.get("/api/metrics", { headers: { authorization: `Bearer ${metricsToken}` } });
  expect(response.status(), "the e2e server must run with METRICS_TOKEN").toBe(200);
  return parseExposition(await response.text());
}

test("a scrape before and after a dashboard journey shows the operation and refresh counters moving", async ({ page, request }) => {
  expect(metricsToken).toHaveLength(64);
  const before = await scrape(request);

  // The journey: create and start an instance, redeploy it, revoke every key of its owner, and let
  // the scheduler's pass (the cron route, as an external scheduler calls it) re-key it live.
  await signIn(page, e2eUsers.other);
  const name = uniqueName("metrics");
  const card = await createRunningInstance(page, name);
  await redeployAndConfirm(card.getByRole("group", { name: `Controls for ${name}` }), page, name);
  await expect(card.getByRole("region", { name: "Redeploy progress" }).getByRole("status")).toHaveText(/Redeployed in/, { timeout: 30_000 });
  await revokeAllKeys(page);
  const pass = await request.post("/api/cron/refresh-keys", { headers: { authorization: `Bearer ${cronSecret}` } });
  expect(pass.status(), await pass.text()).toBe(200);
  await page.goto("/dashboard");
  await expect(card.getByTestId("key-health")).toHaveText("Key OK", { timeout: 30_000 });

  const after = await scrape(request);
  const moved = (name: string, labels: Record<string, string>) => (sampleValue(after, name, labels) ?? 0) - (sampleValue(before, name, labels) ?? 0);
  expect(moved("fleetdeck_operation_duration_seconds_count", { operation: "start", outcome: "success" })).toBeGreaterThanOrEqual(1);
  expect(moved("fleetdeck_operation_duration_seconds_count", { operation: "redeploy", outcome: "success" })).toBeGreaterThanOrEqual(1);
  expect(moved("fleetdeck_key_refresh_total", { outcome: "success" })).toBeGreaterThanOrEqual(1);
  expect(moved("fleetdeck_key_mint_duration_seconds_count", { outcome: "success" })).toBeGreaterThanOrEqual(3);
  expect(moved("fleetdeck_scheduler_pass_duration_seconds_count", { outcome: "success" })).toBe(1);
  expect(moved("fleetdeck_whoami_requests_total", { result: "ok" })).toBeGreaterThanOrEqual(2);
});

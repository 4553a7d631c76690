import { expect, test } from "@playwright/test";
import { expectNoAxeViolations, OPEN_DIALOG } from "./a11y";
import { adminFixtureInstances, adminFixtureOwners } from "./admin-fixtures";
import { chooseFilter, fleetRow, horizontalOverflow } from "./admin-helpers";
import { collectConsoleErrors } from "./dashboard-helpers";
import { e2eUsers } from "./fixtures";
import { saveScreenshot, signIn } from "./helpers";

// The instances these tests act on are seeded by e2e/admin-fixtures.ts (stopped, no machine, keys of
// chosen health) for two users of their own; each test works on different ones, in any order.
const admin = e2eUsers.admin;
const KEY_DAYS = /in (29|30) days/;

test("the admin sees every user's instances with key expiry, filters to critical, and redeploys one as the admin", async ({ page }) => {
  const consoleErrors = collectConsoleErrors(page);
  await signIn(page, admin);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Admin" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Fleet" })).toBeVisible();

  // Overview: counts by status and key health, and the expiry chart next to the keys without a usable key.
  await expect(page.getByTestId("fleet-instances")).not.toHaveText("0");
  await expect(page.getByTestId("health-count-critical")).toHaveText(/^[1-9]/);
  await expect(page.getByTestId("unusable-count-expired")).toHaveText(/^[1-9]/);
  await expect(page.getByTestId("expiry-chart").locator("svg.recharts-surface")).toBeVisible();

  // Other users' instances, with their owner and key expiry.
  const critical = fleetRow(page, adminFixtureInstances.critical);
  await expect(critical).toContainText(adminFixtureOwners.fiona.email);
  await expect(critical.getByTestId("fleet-key-expiry")).toContainText(/in 2 days/);
  await expect(fleetRow(page, "gus-expired-1")).toContainText(adminFixtureOwners.gus.email);
  await saveScreenshot(page, "admin-fleet");

  await chooseFilter(page, "Key health", ["Critical"]);
  await expect(page).toHaveURL(/\/admin\?keyHealth=critical$/);
  await expect(critical).toBeVisible();
  await expect(fleetRow(page, "gus-expired-1")).toHaveCount(0);
  const badges = page.getByRole("table").getByTestId("key-health");
  await expect(badges.first()).toHaveText("Key expires soon");
  for (const text of await badges.allInnerTexts()) expect(text).toBe("Key expires soon");
  // The filter is in the URL: a reload (or a shared link) shows the same view.
  await page.reload();
  await expect(page.getByRole("button", { name: /^Key health/ })).toContainText("Critical");
  await expect(critical).toBeVisible();
  await saveScreenshot(page, "admin-fleet-critical");
  await expectNoAxeViolations(page, "fleet, filtered to critical keys");

  await critical.getByRole("link", { name: adminFixtureInstances.critical }).click();
  await expect(page.getByRole("heading", { level: 1, name: adminFixtureInstances.critical })).toBeVisible();
  await expect(page.getByTestId("owner-email")).toHaveText(adminFixtureOwners.fiona.email);
  await expect(page.getByTestId("instance-status")).toHaveText("Status: Stopped");
  const firstKey = await page.getByTestId("latest-key-id").locator("code").innerText();

  const controls = page.getByRole("group", { name: `Administrator controls for ${adminFixtureInstances.critical}` });
  await controls.getByRole("button", { name: `Redeploy ${adminFixtureInstances.critical}` }).click();
  const dialog = page.getByRole("alertdialog", { name: `Redeploy “${adminFixtureInstances.critical}” as an administrator?` });
  await expect(dialog).toContainText(adminFixtureOwners.fiona.email);
  await expect(dialog.getByRole("button", { name: "Cancel" })).toBeFocused();
  await dialog.getByRole("button", { name: "Redeploy" }).click();
  await expect(page.getByRole("region", { name: "Redeploy progress" })).toBeVisible();
  await expect(page.getByRole("region", { name: "Redeploy progress" }).getByRole("status")).toHaveText(/Redeployed in \d+\.\d s/, { timeout: 45_000 });

  await expect(page.getByTestId("instance-status")).toHaveText("Status: Running");
  await expect(page.getByRole("main").getByTestId("key-health").first()).toHaveText("Key OK");
  await expect(page.getByTestId("latest-key-id")).not.toContainText(firstKey);
  await expect(page.getByTestId("deployed-key-expires-at")).toContainText(KEY_DAYS);
  await expect(page.getByTestId("key-source")).toHaveText("Freshly minted");
  await expect(page.getByTestId("gateway-report")).toHaveText("Gateway reports: valid");
  const latest = page.getByRole("list", { name: "Activity" }).getByRole("listitem").first();
  await expect(latest).toContainText("Redeployed with a fresh key");
  await expect(latest).toContainText(`by administrator ${admin.name} (${admin.email})`);
  await saveScreenshot(page, "admin-instance-redeployed");
  await expectNoAxeViolations(page, "admin instance page, redeployed");

  // The admin revokes every key of the owner: the confirmation says how many running instances
  // are re-keyed, and this one gets a fresh key live, recorded as the admin.
  const keyBefore = (await page.getByTestId("latest-key-id").textContent()) ?? "";
  await page.getByRole("button", { name: "Revoke all keys of this user" }).click();
  const revoke = page.getByRole("alertdialog", { name: `Revoke every API key of ${adminFixtureOwners.fiona.email}?` });
  await expect(revoke).toContainText(/\d+ running instances? will be re-keyed live, without a restart/);
  await expect(revoke.getByRole("button", { name: "Cancel" })).toBeFocused();
  await expectNoAxeViolations(page, "admin instance page, revoke the owner's keys", OPEN_DIALOG);
  await revoke.getByRole("button", { name: "Revoke all keys" }).click();
  await expect(page.getByRole("list", { name: "Activity" })).toContainText("Key refreshed", { timeout: 30_000 });
  await expect(page.getByTestId("latest-key-id")).not.toHaveText(keyBefore);
  await expect(page.getByRole("main").getByTestId("key-health").first()).toHaveText("Key OK");

  // Back to the same filtered view; the instance is healthy now, so it left the critical list.
  await page.getByRole("link", { name: "Fleet", exact: true }).click();
  await expect(page).toHaveURL(/\/admin\?keyHealth=critical$/);
  await expect(page.getByRole("heading", { level: 2, name: "Instances" })).toBeVisible();
  await expect(fleetRow(page, adminFixtureInstances.critical)).toHaveCount(0);
  expect(consoleErrors).toEqual([]);

  // An instance that does not exist is a 404 for admins too.
  const missing = await page.goto("/admin/instances/00000000-0000-4000-8000-000000000000");
  expect(missing?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
});

test("non-admins get 404 on the admin pages and 403 on the admin API; anonymous callers 401", async ({ page, playwright }) => {
  await signIn(page, e2eUsers.user);
  const somewhere = "00000000-0000-4000-8000-000000000000";
  for (const path of ["/admin", "/admin?keyHealth=critical", `/admin/instances/${somewhere}`]) {
    const response = await page.goto(path);
    expect(response?.status(), path).toBe(404);
    await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
  }
  for (const [method, path] of [
    ["GET", "/api/admin/instances"],
    ["GET", "/api/admin/instances?keyHealth=critical"],
    ["GET", "/api/admin/key-health"],
    ["GET", `/api/admin/instances/${somewhere}/events`],
    ["POST", `/api/admin/instances/${somewhere}/redeploy`],
    ["GET", `/admin/instances/${somewhere}/data`],
  ] as const) {
    const response = await page.request.fetch(path, { method, headers: { "content-type": "application/json" }, data: method === "POST" ? "{}" : undefined });
    expect(response.status(), `${method} ${path}`).toBe(403);
    expect(await response.json()).toMatchObject({ error: { code: "forbidden" } });
  }
  const anonymous = await playwright.request.newContext({ baseURL: new URL(page.url()).origin });
  expect((await anonymous.get("/api/admin/instances")).status()).toBe(401);
  expect((await anonymous.get("/api/admin/key-health")).status()).toBe(401);
  await anonymous.dispose();
});

test("bulk redeploy of selected instances starts a server-side job whose page shows live progress and a result per instance", async ({ page }) => {
  await signIn(page, admin);
  await page.goto(`/admin?ownerSearch=${encodeURIComponent("fiona.")}&sort=owner`);
  await expect(page.getByRole("searchbox", { name: "Owner email" })).toHaveValue("fiona.");
  for (const name of adminFixtureInstances.bulk) {
    await page.getByRole("checkbox", { name: `Select ${name} (${adminFixtureOwners.fiona.email})` }).click();
  }
  await expect(page.getByTestId("selection-count")).toHaveText("3 selected");
  await page.getByRole("button", { name: "Redeploy selected" }).click();

  const dialog = page.getByRole("dialog", { name: "Redeploy 3 selected instances?" });
  const listed = await dialog.getByRole("list", { name: "Instances to redeploy" }).getByRole("listitem").allInnerTexts();
  expect(listed.sort()).toEqual(adminFixtureInstances.bulk.map((name) => `${name} · ${adminFixtureOwners.fiona.email}`));
  await expect(dialog).toContainText("You can close this page");
  await saveScreenshot(page, "admin-bulk-confirm");
  await dialog.getByRole("button", { name: "Redeploy 3 instances" }).click();

  await expect(page).toHaveURL(/\/admin\/jobs\/[0-9a-f-]{36}$/);
  await expect(page.getByRole("heading", { name: "Redeploy · 3 instances" })).toBeVisible();
  await expect(page.getByRole("progressbar", { name: "Progress of the redeploy job" })).toBeVisible();
  await saveScreenshot(page, "admin-job-progress");
  await expect(page.getByTestId("job-state")).toHaveText("Finished", { timeout: 60_000 });
  await expect(page.getByTestId("job-progress").first()).toHaveText("3 of 3 finished: 3 done.");
  const results = page.getByRole("list", { name: "Results per item" }).getByRole("listitem");
  await expect(results).toHaveCount(3);
  for (const name of adminFixtureInstances.bulk) await expect(results.filter({ hasText: name })).toHaveAttribute("data-state", "succeeded");
  await saveScreenshot(page, "admin-job-done");
  await expectNoAxeViolations(page, "job page, finished");

  await page.goto(`/admin?ownerSearch=${encodeURIComponent("fiona.")}&sort=owner`);
  for (const name of adminFixtureInstances.bulk) {
    await expect(fleetRow(page, name).getByTestId("instance-status")).toHaveText("Status: Running");
    await expect(fleetRow(page, name).getByTestId("key-health")).toHaveText("Key OK");
  }
});

test("redeploy all matching runs on the servers: close the page, come back, and the job page shows it finished with each result", async ({ page, context }) => {
  await signIn(page, admin);
  await page.goto("/admin");
  await page.getByRole("searchbox", { name: "Owner email" }).fill("gus.");
  await expect(page).toHaveURL(/ownerSearch=gus\./);
  await chooseFilter(page, "Key health", ["Expired"]);
  await expect(page).toHaveURL(/keyHealth=expired/);
  await expect(page.getByRole("table").getByRole("row")).toHaveCount(1 + adminFixtureInstances.expired.length);

  await page.getByRole("button", { name: "Redeploy all matching…" }).click();
  const dialog = page.getByRole("dialog", { name: "Redeploy 2 instances matching this view?" });
  await expect(dialog.getByRole("list", { name: "Instances to redeploy" }).getByRole("listitem")).toHaveCount(2);
  await expect(dialog.getByTestId("bulk-truncated")).toHaveCount(0);
  await dialog.getByRole("button", { name: "Redeploy 2 instances" }).click();
  await expect(page).toHaveURL(/\/admin\/jobs\/[0-9a-f-]{36}$/);
  const jobUrl = page.url();
  // The admin closes the tab at once; the job goes on without any browser.
  await page.close();

  const later = await context.newPage();
  await later.goto("/admin/jobs");
  const row = later.getByTestId("job-row").filter({ has: later.getByRole("link", { name: "Redeploy · 2 instances" }) }).first();
  await expect(row).toContainText(`Started by ${admin.email}`);
  await row.getByRole("link", { name: "Redeploy · 2 instances" }).click();
  await expect(later).toHaveURL(jobUrl);
  await expect(later.getByTestId("job-state")).toHaveText("Finished", { timeout: 60_000 });
  const results = later.getByRole("list", { name: "Results per item" }).getByRole("listitem");
  await expect(results).toHaveCount(2);
  await expect(later.locator('[data-testid="job-item"][data-state="succeeded"]')).toHaveCount(2);
  for (const name of adminFixtureInstances.expired) await expect(results.filter({ hasText: name })).toContainText("Done");
  // Both keys are fresh now, so the expired filter matches nothing.
  await later.goto("/admin?ownerSearch=gus.&keyHealth=expired");
  await expect(later.getByTestId("fleet-empty")).toContainText("No instances match this view");
});

test("the fleet view and an instance page fit a phone screen, and work with the keyboard", async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await signIn(page, admin);
  await page.goto("/admin?sort=owner");
  await expect(page.getByRole("table")).toBeVisible();
  expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
  await saveScreenshot(page, "admin-phone");
  await expectNoAxeViolations(page, "fleet on a phone");

  // Sorting from the keyboard: the column header is a button, and aria-sort follows.
  const header = page.getByRole("columnheader", { name: /Last activity/ });
  await header.getByRole("button").focus();
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/sort=lastActivityAt&order=desc/);
  await expect(header).toHaveAttribute("aria-sort", "descending");

  await fleetRow(page, "gus-healthy").getByRole("link", { name: "gus-healthy" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "gus-healthy" })).toBeVisible();
  expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
  await saveScreenshot(page, "admin-instance-phone");
});

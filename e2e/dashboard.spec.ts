import { expect, test } from "@playwright/test";
import { expectNoAxeViolations, OPEN_DIALOG } from "./a11y";
import { e2eUsers } from "./fixtures";
import { collectConsoleErrors, createRunningInstance, instanceCard, openInstancePage, redeployAndConfirm, revokeAllKeys, uniqueName } from "./dashboard-helpers";
import { saveScreenshot, signIn } from "./helpers";

// Every test signs in as `other` and works on an instance it creates itself, found by a unique
// name, so the tests do not depend on each other or on order (and `user` keeps its empty dashboard).
const owner = e2eUsers.other;

const KEY_DAYS = /in (29|30) days/;

// Two tests need the mint to fail. The server honours the `fleetdeck_e2e_fault` cookie only when
// it runs with FLEETDECK_E2E_FAULTS=1 (see lib/actions/e2e-faults.ts); e2e/start-server.ts
// sets it for the e2e server.
const E2E_FAULT = { name: "fleetdeck_e2e_fault", value: "" };
const MINT_FAULT = { ...E2E_FAULT, value: "mint_unavailable" };

test("create an instance: it starts with a fresh key valid for about 30 days", async ({ page }) => {
  const consoleErrors = collectConsoleErrors(page);
  await signIn(page, owner);
  const name = uniqueName("create");
  await page.getByRole("button", { name: "Create instance" }).first().click();
  const dialog = page.getByRole("dialog", { name: "Create an instance" });
  await expect(dialog.getByLabel("Region")).toHaveText(/Local/);
  await dialog.getByRole("button", { name: "Create and start" }).click();
  await expect(dialog.getByText("Give the instance a name")).toBeVisible();
  await dialog.getByLabel("Name").fill(name);
  await saveScreenshot(page, "dashboard-create-dialog");
  await expectNoAxeViolations(page, "create dialog, name filled in", OPEN_DIALOG);
  await dialog.getByRole("button", { name: "Create and start" }).click();
  await expect(dialog).toBeHidden();

  const card = instanceCard(page, name);
  await expect(card).toBeVisible();
  // Focus moves to the new instance, where its start is followed.
  await expect(card.getByRole("link", { name, exact: true })).toBeFocused();
  await expect(card.getByTestId("instance-status")).toHaveText("Status: Running", { timeout: 30_000 });
  await expect(card.getByTestId("key-health")).toHaveText("Key OK");
  await expect(card.getByTestId("key-expiry")).toContainText(KEY_DAYS);
  await expect(card.getByTestId("last-deployed")).toHaveText("just now");
  await expect(page.getByText(`“${name}” is running`)).toBeVisible();
  await saveScreenshot(page, "dashboard-running");
  expect(consoleErrors).toEqual([]);
});

test("redeploy: the steps show, the key id changes and the gateway confirms the new key", async ({ page }) => {
  const consoleErrors = collectConsoleErrors(page);
  await signIn(page, owner);
  const name = uniqueName("redeploy");
  await createRunningInstance(page, name);
  await openInstancePage(page, name);

  const keyId = page.getByTestId("latest-key-id").locator("code");
  const firstKeyId = await keyId.innerText();
  const firstExpiry = await page.getByTestId("key-expires-at").locator("time").getAttribute("datetime");
  await expect(page.getByTestId("gateway-report")).toHaveText("Gateway reports: valid");
  await expect(page.getByTestId("gateway-key-id")).toContainText(firstKeyId);

  await redeployAndConfirm(page.getByRole("group", { name: `Controls for ${name}` }), page, name);
  const progress = page.getByRole("region", { name: "Redeploy progress" });
  await expect(progress).toBeVisible();
  await expect(progress.getByRole("listitem")).toHaveText([/Minting key/, /Updating machine/, /Waiting for start/, /Verifying credential/]);
  // Focus came back to the Redeploy button, which is unavailable while the redeploy runs.
  await expect(page.getByRole("button", { name: `Redeploy ${name}` })).toBeFocused();
  await expect(progress.getByRole("status")).toHaveText(/Redeployed in \d+\.\d s/, { timeout: 30_000 });
  await expect(progress.locator('li[data-state="done"]')).toHaveCount(4);
  await saveScreenshot(page, "instance-redeployed");

  await expect(keyId).not.toHaveText(firstKeyId);
  const secondKeyId = await keyId.innerText();
  const secondExpiry = await page.getByTestId("key-expires-at").locator("time").getAttribute("datetime");
  // Expiry has one-second resolution: a redeploy within the same second as the start keeps the same value.
  expect(Date.parse(secondExpiry!)).toBeGreaterThanOrEqual(Date.parse(firstExpiry!));
  expect(Date.parse(secondExpiry!) - Date.now()).toBeGreaterThan(29.9 * 24 * 3600 * 1000);
  await expect(page.getByTestId("key-expires-at")).toContainText(KEY_DAYS);
  await expect(page.getByTestId("key-source")).toHaveText("Freshly minted");
  // The instance's own gateway reports the new key as valid.
  await expect(page.getByTestId("gateway-report")).toHaveText("Gateway reports: valid");
  await expect(page.getByTestId("gateway-key-id")).toContainText(secondKeyId);
  await expect(page.getByTestId("gateway-key-id")).toContainText("matches the deployed key");
  await expect(page.getByRole("list", { name: "Recent activity" }).getByRole("listitem").first()).toContainText("Redeployed with a fresh key by you");
  await saveScreenshot(page, "instance-page");
  expect(consoleErrors).toEqual([]);
});

test("revoking all keys re-keys the running instance live: the card shows re-keying, then Key OK without a click", async ({ page, context }) => {
  await signIn(page, owner);
  const name = uniqueName("revoke");
  await createRunningInstance(page, name);
  // Holds the live re-key for fifteen seconds, so the browser can see the instance being re-keyed.
  await context.addCookies([{ ...E2E_FAULT, value: "slow_rekey", url: page.url() }]);

  await revokeAllKeys(page, () => saveScreenshot(page, "account-revoke-confirm"));
  await expect(page.getByTestId("rekey-progress")).toContainText(/Re-keying \d+ running instances?… \d+ done/);
  await saveScreenshot(page, "account-rekeying");
  await expectNoAxeViolations(page, "account, keys revoked, re-keying in progress");
  await page.goto("/dashboard");

  const card = instanceCard(page, name);
  await expect(card.getByTestId("key-health")).toHaveText("Re-keying");
  await expect(card.getByTestId("rekey-notice")).toContainText("no restart is needed");
  await expect(card.getByTestId("revoked-notice")).toHaveCount(0);
  await saveScreenshot(page, "dashboard-rekeying");
  await expectNoAxeViolations(page, "dashboard, keys being re-keyed");

  await expect(card.getByTestId("key-health")).toHaveText("Key OK", { timeout: 30_000 });
  await expect(card.getByTestId("rekey-notice")).toHaveCount(0);
  await expect(card.getByTestId("revoked-notice")).toHaveCount(0);
  await expect(card.getByTestId("instance-status")).toHaveText("Status: Running");
  await expect(card.getByTestId("key-expiry")).toContainText(KEY_DAYS);

  await openInstancePage(page, name);
  await expect(page.getByRole("list", { name: "Recent activity" })).toContainText("Key refreshed");
});

test("a redeploy with no usable key explains why and leaves the instance running", async ({ page, context }) => {
  await signIn(page, owner);
  const name = uniqueName("nokey");
  await createRunningInstance(page, name);
  // The stored key becomes unusable (revoked, its live re-key held back), and minting is made impossible for this browser.
  await context.addCookies([{ ...E2E_FAULT, value: "held_rekey", url: page.url() }]);
  await revokeAllKeys(page);
  await context.addCookies([{ ...E2E_FAULT, value: "mint_unavailable,held_rekey", url: page.url() }]);

  await page.goto("/dashboard");
  const card = instanceCard(page, name);
  await redeployAndConfirm(card.getByRole("group", { name: `Controls for ${name}` }), page, name);

  const explanation = /No fresh API key could be minted .* the stored key cannot be used: it was revoked by a pepper rotation/;
  const toast = page.getByRole("listitem").filter({ hasText: `Redeploy of “${name}” failed` });
  await expect(toast, "the server must refuse the redeploy (is FLEETDECK_E2E_FAULTS=1 set for the e2e server?)").toContainText(explanation);
  await expect(card.getByRole("region", { name: "Redeploy progress" }).getByRole("status")).toHaveText("Redeploy failed at: minting key");
  await expect(card.getByTestId("last-error")).toContainText(explanation);
  await expect(card.getByTestId("last-error")).toContainText("key_unavailable");
  await expect(card.getByTestId("instance-status")).toHaveText("Status: Running");
  await saveScreenshot(page, "dashboard-redeploy-failed");
  await expectNoAxeViolations(page, "dashboard, redeploy failed");

  await openInstancePage(page, name);
  await expect(page.getByTestId("instance-status")).toHaveText("Status: Running");
  await expect(page.getByRole("list", { name: "Recent activity" }).getByRole("listitem").first()).toContainText("Redeploy failed by you");
  await expectNoAxeViolations(page, "instance page, after a failed redeploy");
  // The machine was never touched: its gateway still runs the key it had.
  await expect(page.getByTestId("gateway-key-id")).toContainText("matches the deployed key");
});

test("when minting fails, a redeploy reuses the still-valid stored key and says so", async ({ page, context }) => {
  await signIn(page, owner);
  const name = uniqueName("fallback");
  const card = await createRunningInstance(page, name);
  await context.addCookies([{ ...MINT_FAULT, url: page.url() }]);

  await redeployAndConfirm(card.getByRole("group", { name: `Controls for ${name}` }), page, name);
  await expect(
    page.getByText(`“${name}” is running on its previous key`),
    "the mint must fail (is FLEETDECK_E2E_FAULTS=1 set for the e2e server?)",
  ).toBeVisible({ timeout: 30_000 });
  await expect(card.getByTestId("fallback-notice")).toContainText("could not mint a fresh key");
  const progress = card.getByRole("region", { name: "Redeploy progress" });
  await expect(progress.getByRole("status")).toHaveText(/Redeployed in .*, on the previous key/);
  await expect(progress.locator('li[data-state="reused"]')).toHaveText(/Minting failed: reused stored key/);
  await expect(card.getByTestId("instance-status")).toHaveText("Status: Running");
  await saveScreenshot(page, "dashboard-fallback");
  await expectNoAxeViolations(page, "dashboard, running on a reused key");

  // Once minting works again, a redeploy replaces the reused key with a fresh one.
  await context.clearCookies({ name: MINT_FAULT.name });
  await redeployAndConfirm(card.getByRole("group", { name: `Controls for ${name}` }), page, name);
  await expect(card.getByTestId("fallback-notice")).toHaveCount(0, { timeout: 30_000 });
  await expect(card.getByTestId("key-health")).toHaveText("Key OK");
});

test("stop and start: stop asks first, and start mints a fresh key", async ({ page }) => {
  await signIn(page, owner);
  const name = uniqueName("stopstart");
  const card = await createRunningInstance(page, name);
  const controls = card.getByRole("group", { name: `Controls for ${name}` });

  await controls.getByRole("button", { name: `Stop ${name}` }).click();
  const dialog = page.getByRole("alertdialog", { name: `Stop “${name}”?` });
  await expect(dialog.getByRole("button", { name: "Cancel" })).toBeFocused();
  await page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();
  await expect(controls.getByRole("button", { name: `Stop ${name}` })).toBeFocused();
  await expect(card.getByTestId("instance-status")).toHaveText("Status: Running");

  await page.keyboard.press("Enter");
  await dialog.getByRole("button", { name: "Stop instance" }).click();
  await expect(card.getByTestId("instance-status")).toHaveText("Status: Stopped", { timeout: 30_000 });
  await saveScreenshot(page, "dashboard-stopped");

  await controls.getByRole("button", { name: `Start ${name}` }).click();
  await expect(card.getByTestId("instance-status")).toHaveText("Status: Running", { timeout: 30_000 });
  await expect(card.getByTestId("key-health")).toHaveText("Key OK");
});

test("another user's instance page is a 404", async ({ page, browser }) => {
  await signIn(page, owner);
  const name = uniqueName("private");
  await createRunningInstance(page, name);
  await openInstancePage(page, name);
  const instancePath = new URL(page.url()).pathname;

  const strangerContext = await browser.newContext();
  const stranger = await strangerContext.newPage();
  await signIn(stranger, e2eUsers.user);
  const response = await stranger.goto(instancePath);
  expect(response?.status()).toBe(404);
  await expect(stranger.getByRole("heading", { name: "Page not found" })).toBeVisible();
  await expect(stranger.getByText(name)).toHaveCount(0);
  const data = await stranger.request.get(`${instancePath}/data`);
  expect(data.status()).toBe(404);
  await strangerContext.close();
});

test("on a phone the dashboard and the instance page fit the screen", async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await signIn(page, owner);
  const name = uniqueName("phone");
  await createRunningInstance(page, name);
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(await overflow()).toBeLessThanOrEqual(0);
  await instanceCard(page, name).scrollIntoViewIfNeeded();
  await saveScreenshot(page, "dashboard-phone");
  await openInstancePage(page, name);
  expect(await overflow()).toBeLessThanOrEqual(0);
  await saveScreenshot(page, "instance-phone");
  await expectNoAxeViolations(page, "instance page on a phone");
});

import { expect, type Locator, type Page } from "@playwright/test";

/** Collects the page's console errors (hydration mismatches, failed renders) for a test to assert on. */
export function collectConsoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (message) => {
    // The app has no favicon yet; that 404 is not what these tests are about.
    if (message.type() === "error" && !message.location().url.endsWith("/favicon.ico")) {
      errors.push(`${message.text()} (${message.location().url})`);
    }
  });
  page.on("pageerror", (error) => errors.push(error.message));
  return errors;
}

/** A name no other test uses, so each test finds its own instance among everyone's. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
}

/** The instance's card on the dashboard. */
export function instanceCard(page: Page, name: string): Locator {
  return page.getByRole("article", { name });
}

/** Creates an instance through the dialog and waits until it is running with a healthy key. */
export async function createRunningInstance(page: Page, name: string): Promise<Locator> {
  await page.goto("/dashboard");
  await page.getByRole("button", { name: "Create instance" }).first().click();
  const dialog = page.getByRole("dialog", { name: "Create an instance" });
  await dialog.getByLabel("Name").fill(name);
  await dialog.getByRole("button", { name: "Create and start" }).click();
  await expect(dialog).toBeHidden();
  const card = instanceCard(page, name);
  await expect(card.getByTestId("instance-status")).toHaveText("Status: Running", { timeout: 30_000 });
  await expect(card.getByTestId("key-health")).toHaveText("Key OK");
  return card;
}

/** Opens the instance's page from its card. */
export async function openInstancePage(page: Page, name: string): Promise<void> {
  await instanceCard(page, name).getByRole("link", { name, exact: true }).click();
  await expect(page.getByRole("heading", { level: 1, name })).toBeVisible();
}

/** Clicks Redeploy and confirms in the dialog. */
export async function redeployAndConfirm(scope: Locator | Page, page: Page, name: string, label = "Redeploy"): Promise<void> {
  await scope.getByRole("button", { name: `${label} ${name}` }).click();
  const dialog = page.getByRole("alertdialog", { name: `Redeploy “${name}”?` });
  await expect(dialog).toBeVisible();
  await dialog.getByRole("button", { name: "Redeploy" }).click();
  await expect(dialog).toBeHidden();
}

/** Revokes every API key of the signed-in user from the account page. */
export async function revokeAllKeys(page: Page, screenshot?: () => Promise<void>): Promise<void> {
  await page.goto("/account");
  await page.getByRole("button", { name: "Revoke all API keys" }).click();
  const dialog = page.getByRole("alertdialog", { name: "Revoke all API keys?" });
  await expect(dialog).toContainText("get a fresh key within seconds, without a restart");
  await screenshot?.();
  await dialog.getByRole("button", { name: "Revoke all keys" }).click();
  await expect(page.getByText("All your API keys are revoked")).toBeVisible();
}

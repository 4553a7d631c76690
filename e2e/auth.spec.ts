import { expect, test } from "@playwright/test";
import { e2eUsers } from "./fixtures";
import { saveScreenshot, signIn } from "./helpers";

test("anonymous visitors are sent to the sign-in page", async ({ page }) => {
  await page.goto("/dashboard");
  await expect(page).toHaveURL(/\/sign-in\?callbackUrl=%2Fdashboard/);
  await expect(page.getByRole("heading", { name: "Sign in to your account" })).toBeVisible();
  await saveScreenshot(page, "sign-in");
});

test("a wrong password shows an error and stays on the sign-in page", async ({ page }) => {
  await page.goto("/sign-in");
  await page.getByLabel("Email").fill(e2eUsers.other.email);
  await page.getByLabel("Password").fill("definitely-not-the-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("main").getByRole("alert")).toHaveText("That email and password do not match an account.");
  await expect(page).toHaveURL(/\/sign-in/);
  await saveScreenshot(page, "sign-in-error");
});

test("an unknown email gets the same error as a wrong password", async ({ page }) => {
  await page.goto("/sign-in");
  await page.getByLabel("Email").fill("nobody@e2e.fleetdeck.test");
  await page.getByLabel("Password").fill("definitely-not-the-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("main").getByRole("alert")).toHaveText("That email and password do not match an account.");
});

test("a user signs in, sees the shell without Admin, and gets 404 on /admin", async ({ page }) => {
  await signIn(page, e2eUsers.user);
  const nav = page.getByRole("navigation", { name: "Main" });
  await expect(nav.getByRole("link", { name: "Dashboard" })).toHaveAttribute("aria-current", "page");
  await expect(nav.getByRole("link", { name: "Account" })).toBeVisible();
  await expect(nav.getByRole("link", { name: "Admin" })).toHaveCount(0);
  await expect(page.getByRole("heading", { name: "No instances yet" })).toBeVisible();
  await saveScreenshot(page, "dashboard-empty");

  const response = await page.goto("/admin");
  expect(response?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();

  await page.goto("/account");
  await expect(page.getByText(e2eUsers.user.email, { exact: true }).last()).toBeVisible();
  await page.getByRole("button", { name: "Sign out", exact: true }).click();
  await expect(page).toHaveURL(/\/sign-in/);
});

test("an admin sees the Admin link and the fleet page", async ({ page }) => {
  await signIn(page, e2eUsers.admin);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Admin" }).click();
  await expect(page).toHaveURL(/\/admin$/);
  await expect(page.getByRole("heading", { name: "Fleet" })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Instances by status" })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Keys expiring per day, next 30 days" })).toBeVisible();
  await saveScreenshot(page, "admin");
});

import { expect, test, type Page } from "@playwright/test";
import { expectFocusTrappedIn, expectNoAxeViolations, expectVisibleFocusOnEveryTabStop, holdRequests, isServerAction, OPEN_DIALOG, OPEN_SELECT, tabTo } from "./a11y";
import { uniqueName } from "./dashboard-helpers";
import { e2eUsers } from "./fixtures";
import { saveScreenshot } from "./helpers";

// Pages and states the other suites do not reach, audited with axe-core, plus the keyboard: every
// tab stop shows focus, dialogs and menus keep focus inside and give it back. The other suites
// audit the states they reach themselves (one `expectNoAxeViolations` line each). Focus trapping is
// checked once per kind of dialog: the create dialog, the confirmation (one component for every
// confirm), the bulk redeploy confirmation and the job it starts.

test("signed out: the sign-in page, its error, and the 404 page", async ({ page }) => {
  await page.goto("/sign-in");
  await expect(page.getByLabel("Email")).toBeFocused();
  await expectNoAxeViolations(page, "sign-in");
  await expectVisibleFocusOnEveryTabStop(page, "sign-in");

  await page.getByLabel("Email").fill(e2eUsers.other.email);
  await page.getByLabel("Password").fill("definitely-not-the-password");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("main").getByRole("alert")).toBeVisible();
  await expectNoAxeViolations(page, "sign-in, wrong password");

  const missing = await page.goto("/no-such-page");
  expect(missing?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
  await expectNoAxeViolations(page, "404 page");
});

test("keyboard only: sign in, create an instance, redeploy it, and open its activity", async ({ page }) => {
  // Many audits and key presses in one flow: more time than one plain test on a busy machine.
  test.slow();
  const account = e2eUsers.other;
  const name = uniqueName("keyboard");

  // Sign in: the email field has focus on arrival, Enter submits.
  await page.goto("/sign-in");
  await expect(page.getByLabel("Email")).toBeFocused();
  await page.keyboard.type(account.email);
  await page.keyboard.press("Tab");
  await page.keyboard.type(account.password);
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByRole("heading", { level: 1, name: "Your instances" })).toBeVisible();

  // Create: the dialog opens with focus on its first field and keeps focus inside until it closes.
  const createButton = page.getByRole("button", { name: "Create instance" }).first();
  await tabTo(page, createButton);
  await page.keyboard.press("Enter");
  const createDialog = page.getByRole("dialog", { name: "Create an instance" });
  await expect(createDialog.getByLabel("Name")).toBeFocused();
  // Escape closes it and gives focus back to the button that opened it.
  await page.keyboard.press("Escape");
  await expect(createDialog).toBeHidden();
  await expect(createButton).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(createDialog.getByLabel("Name")).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(createDialog.getByText("Give the instance a name")).toBeVisible();
  await expectNoAxeViolations(page, "create dialog, name missing", OPEN_DIALOG);
  await expectFocusTrappedIn(page, createDialog);
  // The region picker opens and closes from the keyboard, and focus comes back to it.
  const region = createDialog.getByLabel("Region");
  await tabTo(page, region);
  await page.keyboard.press("Enter");
  await expect(page.getByRole("listbox")).toBeVisible();
  await expectNoAxeViolations(page, "create dialog, region list open", OPEN_SELECT);
  await page.keyboard.press("Escape");
  await expect(page.getByRole("listbox")).toBeHidden();
  await expect(region).toBeFocused();
  await tabTo(page, createDialog.getByLabel("Name"));
  await page.keyboard.type(name);
  await page.keyboard.press("Enter");
  await expect(createDialog).toBeHidden();

  // Focus lands on the new instance, whose start is followed on its card.
  const card = page.getByRole("article", { name });
  await expect(card.getByRole("link", { name, exact: true })).toBeFocused();
  await expect(card.getByTestId("instance-status")).toHaveText("Status: Running", { timeout: 30_000 });
  await expect(card.getByTestId("key-health")).toHaveText("Key OK");
  await expectNoAxeViolations(page, "dashboard, one instance running");
  await expectVisibleFocusOnEveryTabStop(page, "dashboard, one instance running");

  // Redeploy: the confirmation opens on Cancel, traps focus, and gives focus back to Redeploy.
  const redeploy = card.getByRole("button", { name: `Redeploy ${name}` });
  await tabTo(page, redeploy);
  await page.keyboard.press("Enter");
  const confirm = page.getByRole("alertdialog", { name: `Redeploy “${name}”?` });
  await expect(confirm.getByRole("button", { name: "Cancel" })).toBeFocused();
  await expectNoAxeViolations(page, "dashboard, redeploy confirmation", OPEN_DIALOG);
  await expectFocusTrappedIn(page, confirm);
  await tabTo(page, confirm.getByRole("button", { name: "Redeploy" }));
  // The redeploy request is held so the in-progress view stays on screen for the audit.
  const held = await holdRequests(page, isServerAction);
  await page.keyboard.press("Enter");
  await expect(confirm).toBeHidden();
  await expect(redeploy).toBeFocused();
  await held.arrived();
  const progress = card.getByRole("region", { name: "Redeploy progress" });
  await expect(progress.getByRole("status")).toHaveText(/Redeploying/);
  await expectNoAxeViolations(page, "dashboard, redeploy in progress");
  await saveScreenshot(page, "dashboard-redeploy-in-progress");
  await held.release();
  await expect(progress.getByRole("status")).toHaveText(/Redeployed in \d+\.\d s/, { timeout: 30_000 });

  // Its activity: the instance page lists the redeploy, by this user.
  await tabTo(page, card.getByRole("link", { name: `Key details and activity for ${name}` }));
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { level: 1, name })).toBeVisible();
  const activity = page.getByRole("list", { name: "Recent activity" });
  await expect(activity.getByRole("listitem").first()).toContainText("Redeployed with a fresh key by you");
  await expect(page.getByTestId("gateway-report")).toHaveText("Gateway reports: valid");
  await expectNoAxeViolations(page, "instance page, running");
  await expectVisibleFocusOnEveryTabStop(page, "instance page, running");
});

test("the user's empty dashboard and the account page, with its confirmation", async ({ page }) => {
  // `user` has no instances (the auth suite relies on its empty dashboard), so nothing is revoked here.
  await page.goto("/sign-in");
  await page.getByLabel("Email").fill(e2eUsers.user.email);
  await page.getByLabel("Password").fill(e2eUsers.user.password);
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "No instances yet" })).toBeVisible();
  await expectNoAxeViolations(page, "dashboard, no instances");
  await expectVisibleFocusOnEveryTabStop(page, "dashboard, no instances");

  await page.goto("/account");
  await expect(page.getByRole("heading", { level: 1, name: "Account" })).toBeVisible();
  await expectNoAxeViolations(page, "account");
  await expectVisibleFocusOnEveryTabStop(page, "account");
  const revoke = page.getByRole("button", { name: "Revoke all API keys" });
  await tabTo(page, revoke);
  await page.keyboard.press("Enter");
  const confirm = page.getByRole("alertdialog", { name: "Revoke all API keys?" });
  await expect(confirm.getByRole("button", { name: "Cancel" })).toBeFocused();
  await expectNoAxeViolations(page, "account, revoke confirmation", OPEN_DIALOG);
  await page.keyboard.press("Escape");
  await expect(confirm).toBeHidden();
  await expect(revoke).toBeFocused();
});

async function signInAsAdmin(page: Page): Promise<void> {
  await page.goto("/sign-in");
  await page.getByLabel("Email").fill(e2eUsers.admin.email);
  await page.getByLabel("Password").fill(e2eUsers.admin.password);
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\/dashboard$/);
}

test("admin: the fleet view, its multi-select filter and sort from the keyboard, and a view nothing matches", async ({ page }) => {
  // Many audits and key presses in one flow: more time than one plain test on a busy machine.
  test.slow();
  await signInAsAdmin(page);
  await page.goto("/admin");
  await expect(page.getByRole("heading", { level: 1, name: "Fleet" })).toBeVisible();
  // Some statuses have no instances: their tiles are quieter but must stay readable.
  await expect(page.getByTestId("status-count-destroying")).toHaveText("0");
  await expectNoAxeViolations(page, "fleet overview and table");
  await expectVisibleFocusOnEveryTabStop(page, "fleet overview and table", 120);

  // The multi-select filter: opens from the keyboard, arrows move, Space ticks and it stays open,
  // Escape closes it and gives focus back to its button.
  const healthFilter = page.getByRole("button", { name: /^Key health/ });
  await tabTo(page, healthFilter);
  await page.keyboard.press("Enter");
  const menu = page.getByRole("menu", { name: "Key health" });
  await expect(menu).toBeVisible();
  await expectNoAxeViolations(page, "fleet, key health filter open");
  const critical = menu.getByRole("menuitemcheckbox", { name: /^Critical/ });
  for (let presses = 0; presses < 8 && !(await critical.evaluate((element) => element === document.activeElement)); presses += 1) {
    await page.keyboard.press("ArrowDown");
  }
  await expect(critical).toBeFocused();
  await page.keyboard.press("Space");
  await expect(page).toHaveURL(/keyHealth=critical/);
  await expect(critical).toHaveAttribute("aria-checked", "true");
  // The menu stays open with focus where it was, so the next option is one arrow away.
  await expect(critical).toBeFocused();
  await saveScreenshot(page, "admin-filter-menu");
  await page.keyboard.press("Escape");
  await expect(menu).toBeHidden();
  await expect(healthFilter).toBeFocused();
  await expect(healthFilter).toContainText("Critical");

  // The sort picker, likewise.
  const sort = page.getByLabel("Sort by");
  await tabTo(page, sort);
  await page.keyboard.press("Enter");
  await expect(page.getByRole("listbox")).toBeVisible();
  await expectNoAxeViolations(page, "fleet, sort list open", OPEN_SELECT);
  await page.keyboard.press("Escape");
  await expect(sort).toBeFocused();

  // A view nothing matches.
  await page.goto(`/admin?ownerSearch=${encodeURIComponent("nobody-at-all.")}`);
  await expect(page.getByTestId("fleet-empty")).toContainText("No instances match this view");
  await expectNoAxeViolations(page, "fleet, nothing matches");
});

test("admin: a bulk redeploy from the keyboard starts a job; the job page and the jobs list", async ({ page }) => {
  // Many audits and key presses in one flow: more time than one plain test on a busy machine.
  test.slow();
  await signInAsAdmin(page);
  // One instance, chosen and confirmed from the keyboard.
  await page.goto(`/admin?ownerSearch=${encodeURIComponent("gus.")}&keyHealth=ok`);
  const select = page.getByRole("checkbox", { name: /^Select gus-healthy/ });
  await tabTo(page, select);
  await page.keyboard.press("Space");
  await expect(page.getByTestId("selection-count")).toHaveText("1 selected");
  const redeploySelected = page.getByRole("button", { name: "Redeploy selected" });
  await tabTo(page, redeploySelected);
  await page.keyboard.press("Enter");
  const confirm = page.getByRole("dialog", { name: "Redeploy 1 selected instance?" });
  await expect(confirm).toBeVisible();
  await expectNoAxeViolations(page, "fleet, bulk redeploy confirmation", OPEN_DIALOG);
  await expectFocusTrappedIn(page, confirm);

  // Escape gives focus back to the button that opened it; then confirm from the keyboard.
  await page.keyboard.press("Escape");
  await expect(confirm).toBeHidden();
  await expect(redeploySelected).toBeFocused();
  await page.keyboard.press("Enter");
  await tabTo(page, confirm.getByRole("button", { name: "Redeploy 1 instance" }));
  await page.keyboard.press("Enter");

  // The job's own page, while it runs or once it is done, then the list of jobs.
  await expect(page).toHaveURL(/\/admin\/jobs\/[0-9a-f-]{36}$/);
  await expect(page.getByRole("progressbar", { name: "Progress of the redeploy job" })).toBeVisible();
  await expectNoAxeViolations(page, "job page, just started");
  await expect(page.getByTestId("job-state")).toHaveText("Finished", { timeout: 60_000 });
  await expectNoAxeViolations(page, "job page, finished");
  await expectVisibleFocusOnEveryTabStop(page, "job page, finished");
  await page.goto("/admin/jobs");
  await expect(page.getByRole("list", { name: "Fleet jobs" })).toBeVisible();
  await expectNoAxeViolations(page, "jobs list");
});

test("admin: an instance page, its confirmation and an operation in flight", async ({ page }) => {
  await signInAsAdmin(page);
  await page.goto(`/admin?ownerSearch=${encodeURIComponent("fiona.")}`);
  await page.getByRole("link", { name: "fiona-revoked", exact: true }).click();
  await expect(page.getByRole("heading", { level: 1, name: "fiona-revoked" })).toBeVisible();
  await expectNoAxeViolations(page, "admin instance page, key revoked");
  await expectVisibleFocusOnEveryTabStop(page, "admin instance page, key revoked");

  const controls = page.getByRole("group", { name: "Administrator controls for fiona-revoked" });
  const redeploy = controls.getByRole("button", { name: "Redeploy fiona-revoked" });
  await tabTo(page, redeploy);
  await page.keyboard.press("Enter");
  const confirm = page.getByRole("alertdialog", { name: "Redeploy “fiona-revoked” as an administrator?" });
  await expect(confirm.getByRole("button", { name: "Cancel" })).toBeFocused();
  await expectNoAxeViolations(page, "admin instance page, redeploy confirmation", OPEN_DIALOG);

  // The redeploy is held in flight for the audit, then dropped: it fails without reaching the server.
  const held = await holdRequests(page, isServerAction);
  await tabTo(page, confirm.getByRole("button", { name: "Redeploy" }));
  await page.keyboard.press("Enter");
  await expect(redeploy).toBeFocused();
  await held.arrived();
  await expect(page.getByRole("region", { name: "Redeploy progress" })).toBeVisible();
  await expectNoAxeViolations(page, "admin instance page, redeploy in progress");
  await held.fail();
  await expect(page.getByRole("listitem").filter({ hasText: "Redeploy of “fiona-revoked” failed" })).toBeVisible();
  await expect(page.getByRole("region", { name: "Redeploy progress" })).toHaveCount(0);
  await expectNoAxeViolations(page, "admin instance page, redeploy failed");
});

import { expect, type Locator, type Page } from "@playwright/test";

/** The fleet table's row of an instance. */
export function fleetRow(page: Page, name: string): Locator {
  return page.getByRole("table").getByRole("row").filter({ has: page.getByRole("link", { name, exact: true }) });
}

/** Ticks options in one of the fleet view's filter menus ("Key health", "Status"), then closes it. */
export async function chooseFilter(page: Page, menu: "Key health" | "Status", options: string[]): Promise<void> {
  await page.getByRole("button", { name: new RegExp(`^${menu}`) }).click();
  const list = page.getByRole("menu", { name: menu });
  for (const option of options) {
    await list.getByRole("menuitemcheckbox", { name: new RegExp(`^${option}`) }).click();
    await expect(list.getByRole("menuitemcheckbox", { name: new RegExp(`^${option}`) })).toHaveAttribute("aria-checked", "true");
  }
  await page.keyboard.press("Escape");
  await expect(list).toBeHidden();
}

/** Page width minus viewport width: positive when the page scrolls sideways. */
export function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

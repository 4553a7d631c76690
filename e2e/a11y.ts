/**
 * Accessibility checks for the e2e suite: an axe-core audit of whatever the page shows right now,
 * and a walk through the page's tab stops checking that each one shows where focus is.
 *
 * Add a page or a state with one line where a test has reached it:
 *   await expectNoAxeViolations(page, "jobs page, one job running");
 */
import AxeBuilder from "@axe-core/playwright";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { expect, type Locator, type Page, type Request, type Route } from "@playwright/test";
import type { Result } from "axe-core";

/** WCAG 2.1 A and AA, plus axe's best practices (landmarks, heading order, unique labels…). */
export const AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"];

/**
 * Rules switched off for every audit, each with why it does not apply. Keep this empty unless a
 * rule truly cannot apply; a violation in our own markup is fixed in the component instead.
 */
const DISABLED_RULES: Record<string, string> = {};

/**
 * What the `region` rule (all content inside landmarks) accepts as a region besides landmarks: its
 * defaults, plus the popups Radix portals to <body> (an open select list or menu). Such a popup is
 * part of the control that opened it (aria-controls), not of a landmark, and exists only while open.
 */
const REGION_MATCHER = "dialog, [role=dialog], [role=alertdialog], svg, body > [data-radix-popper-content-wrapper]";

/** axe-core as injected into the page, configured with the check options above. */
const axeSource = `${readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8")}
axe.configure({ checks: [{ id: "region", options: { regionMatcher: ${JSON.stringify(REGION_MATCHER)} } }] });`;

export interface AxeAuditOptions {
  /** Audit only this part of the page (CSS selector), e.g. a dialog; page-level rules then do not run. */
  include?: string;
  /** Leave out parts of the page (CSS selectors), each needing a comment at the call site saying why. */
  exclude?: string[];
}

function describe(violation: Result): string {
  const nodes = violation.nodes
    .slice(0, 5)
    .map((node) => `    ${node.target.join(" ")}\n      ${node.failureSummary?.replace(/\n/g, "\n      ") ?? ""}`)
    .join("\n");
  const more = violation.nodes.length > 5 ? `\n    … and ${violation.nodes.length - 5} more` : "";
  return `${violation.id} (${violation.impact ?? "no impact given"}): ${violation.help}\n  ${violation.helpUrl}\n${nodes}${more}`;
}

/**
 * Runs axe-core (AXE_TAGS) on the page as it is now and fails the test on any violation, naming
 * the rule, the elements and how to fix them. `context` says which page and state was audited, so a
 * failure reads "dashboard, redeploy in progress: color-contrast …". Call it once the state is on
 * screen (after an `expect(...).toBeVisible()` on what makes the state), not mid-transition.
 */
export async function expectNoAxeViolations(page: Page, context: string, options: AxeAuditOptions = {}): Promise<void> {
  // options() replaces what withTags() sets, so it comes first. Only violations are needed in full.
  let builder = new AxeBuilder({ page, axeSource }).options({ resultTypes: ["violations"] }).withTags(AXE_TAGS);
  const disabled = Object.keys(DISABLED_RULES);
  if (disabled.length) builder = builder.disableRules(disabled);
  if (options.include) builder = builder.include(options.include);
  for (const selector of options.exclude ?? []) builder = builder.exclude(selector);
  // Toasts are left out: sonner fades and dims stacked toasts while they move, so axe measures a
  // colour in passing (3.3:1, 4.2:1 seen) rather than the one a reader gets; their settled colours
  // are set for AA contrast in components/providers.tsx.
  builder = builder.exclude("[data-sonner-toaster]");
  // Next streams a page's metadata after its content: just after a client-side navigation the new
  // page can be on screen while <title> is still on its way. The audit waits for it (and a page that
  // never gets one still fails, here, by name).
  await expect(page, `${context}: the page has a title`).toHaveTitle(/\S/);
  // Colours are judged as they settle: a toast or dialog still fading in is lighter than it will be.
  // Spinners animate forever, so only animations that end are waited for.
  await page.evaluate(() =>
    Promise.all(
      document
        .getAnimations()
        .filter((animation) => animation.effect?.getComputedTiming().iterations !== Infinity)
        .map((animation) => animation.finished.catch(() => undefined)),
    ),
  );
  const { violations } = await builder.analyze();
  expect(violations.map(describe), `axe violations on ${context}`).toEqual([]);
}

type Look = { outline: string; boxShadow: string; borderColor: string; backgroundColor: string };
type TabWalkWindow = Window & { tabWalk: { seen: WeakSet<Element>; unfocused: WeakMap<Element, Look> } };

/**
 * Tabs from the top of the page through every tab stop (up to `maxStops`) and fails when one looks
 * the same focused as unfocused: no outline, and no change of ring (box-shadow), border or
 * background. Returns the stops in tab order, for a test to check what is reachable.
 */
export async function expectVisibleFocusOnEveryTabStop(page: Page, context: string, maxStops = 80): Promise<string[]> {
  // Note how every focusable element looks without focus, then start from the top of the
  // document, as a keyboard user arriving on the page does.
  await page.evaluate(() => {
    // Focusing the body moves the browser's starting point for Tab back to the top of the page.
    document.body.tabIndex = -1;
    document.body.focus();
    document.body.removeAttribute("tabindex");
    const look = (element: Element) => {
      const style = getComputedStyle(element);
      return { outline: `${style.outlineStyle} ${style.outlineWidth}`, boxShadow: style.boxShadow, borderColor: style.borderColor, backgroundColor: style.backgroundColor };
    };
    const unfocused = new WeakMap<Element, Look>();
    for (const element of document.querySelectorAll("a[href], button, input, select, textarea, [tabindex]")) unfocused.set(element, look(element));
    (window as unknown as TabWalkWindow).tabWalk = { seen: new WeakSet(), unfocused };
  });
  const stops: { label: string; indicator: string | null }[] = [];
  for (let index = 0; index < maxStops; index += 1) {
    await page.keyboard.press("Tab");
    const stop = await page.evaluate(() => {
      const element = document.activeElement;
      if (!element || element === document.body) return null;
      const { seen, unfocused } = (window as unknown as TabWalkWindow).tabWalk;
      const wrapped = seen.has(element);
      seen.add(element);
      const style = getComputedStyle(element);
      const before = unfocused.get(element);
      const name = (element.getAttribute("aria-label") ?? element.textContent ?? "").replace(/\s+/g, " ").trim().slice(0, 60);
      const outline = `${style.outlineStyle} ${style.outlineWidth}`;
      const indicator =
        style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0 && outline !== before?.outline
          ? `outline ${outline}`
          : before && style.boxShadow !== before.boxShadow
            ? `ring ${style.boxShadow}`
            : before && style.borderColor !== before.borderColor
              ? `border ${style.borderColor}`
              : before && style.backgroundColor !== before.backgroundColor
                ? `background ${style.backgroundColor}`
                : null;
      return { label: `${element.tagName.toLowerCase()} “${name}”`, indicator, wrapped };
    });
    // Focus left the page (for the browser's own controls) or came round to the first stop again.
    if (!stop || stop.wrapped) break;
    stops.push({ label: stop.label, indicator: stop.indicator });
  }
  expect(stops.length, `${context}: the page has tab stops`).toBeGreaterThan(0);
  expect(
    stops.filter((stop) => !stop.indicator).map((stop) => stop.label),
    `${context}: tab stops that look the same with and without focus`,
  ).toEqual([]);
  return stops.map((stop) => stop.label);
}

/** Presses Tab until `target` has focus: it is reachable from the keyboard, in tab order. */
export async function tabTo(page: Page, target: Locator, maxPresses = 60): Promise<void> {
  await target.waitFor();
  for (let presses = 0; presses <= maxPresses; presses += 1) {
    if (await target.evaluate((element) => element === document.activeElement)) return;
    await page.keyboard.press("Tab");
  }
  throw new Error(`${target} was not reached with ${maxPresses} presses of Tab`);
}

/** Tabs forwards and backwards past the ends of `dialog` and fails if focus ever leaves it. */
export async function expectFocusTrappedIn(page: Page, dialog: Locator, presses = 6): Promise<void> {
  for (const key of ["Tab", "Shift+Tab"]) {
    for (let press = 0; press < presses; press += 1) {
      await page.keyboard.press(key);
      expect(await dialog.evaluate((element) => element.contains(document.activeElement)), `focus stays in the dialog after ${press + 1} × ${key}`).toBe(true);
    }
  }
}

/**
 * An open select list is audited on its own. While it is open, Radix hides the rest of the page from
 * assistive technology (aria-hidden) and keeps focus in the list, so axe would report the hidden,
 * still-focusable page behind it (aria-hidden-focus) and a page without a visible h1; the page
 * itself is audited with the list closed.
 */
export const OPEN_SELECT = { include: '[role="listbox"]' };

/**
 * With a modal dialog open, the page behind it is hidden from assistive technology (aria-hidden)
 * and covered; it is audited on its own with the dialog closed. Auditing just the dialog keeps
 * each audit quick.
 */
export const OPEN_DIALOG = { include: '[role="dialog"], [role="alertdialog"]' };

/** Server actions are POSTs carrying a `Next-Action` header. */
export const isServerAction = (request: Request) => request.method() === "POST" && request.headers()["next-action"] !== undefined;

/**
 * Holds the page's requests that match until released, so a state that normally lasts a moment (an
 * operation in flight) stays on screen while it is audited. Release lets them through unchanged,
 * or fails them as a dropped connection would.
 */
export async function holdRequests(page: Page, matches: (request: Request) => boolean) {
  const held: { continue: () => Promise<void>; abort: () => Promise<void> }[] = [];
  const handler = async (route: Route) => {
    if (matches(route.request())) held.push({ continue: () => route.continue(), abort: () => route.abort("connectionreset") });
    else await route.fallback();
  };
  await page.route("**/*", handler);
  const release = async (how: "continue" | "abort") => {
    for (const request of held.splice(0)) await request[how]();
    await page.unroute("**/*", handler);
  };
  return {
    /** Resolves once `count` requests are being held. */
    arrived: (count = 1) => expect.poll(() => held.length).toBeGreaterThanOrEqual(count),
    release: () => release("continue"),
    fail: () => release("abort"),
  };
}

import http from "node:http";
import type { AddressInfo } from "node:net";
import { expect, test, type Page, type Response } from "@playwright/test";
import { createRunningInstance, collectConsoleErrors, uniqueName } from "./dashboard-helpers";
import { E2E_BASE_URL, e2eUsers } from "./fixtures";
import { signIn } from "./helpers";

/** Records every CSP violation the browser reports, from the first script on. */
async function collectCspViolations(page: Page): Promise<() => Promise<string[]>> {
  await page.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { __cspViolations: string[] }).__cspViolations = seen;
    document.addEventListener("securitypolicyviolation", (event) => seen.push(`${event.violatedDirective} ${event.blockedURI}`));
  });
  return () => page.evaluate(() => (window as unknown as { __cspViolations?: string[] }).__cspViolations ?? []);
}

function expectSecurityHeaders(response: Response | null) {
  expect(response, "navigation response").not.toBeNull();
  const headers = response!.headers();
  expect(headers["content-security-policy"]).toMatch(/script-src 'self' 'nonce-[^']+' 'strict-dynamic'/);
  expect(headers["content-security-policy"]).toContain("frame-ancestors 'none'");
  expect(headers["x-content-type-options"]).toBe("nosniff");
  expect(headers["referrer-policy"]).toBe("strict-origin-when-cross-origin");
  expect(headers["permissions-policy"]).toContain("camera=()");
  expect(headers["strict-transport-security"]).toContain("max-age=");
}

test("every page sends the security headers and works under its CSP", async ({ page }) => {
  const violations = await collectCspViolations(page);
  const errors = collectConsoleErrors(page);
  expectSecurityHeaders(await page.goto("/sign-in"));
  await signIn(page, e2eUsers.admin);
  for (const [path, heading] of [
    ["/dashboard", "Your instances"],
    ["/account", "Account"],
    ["/admin", "Fleet"],
  ] as const) {
    expectSecurityHeaders(await page.goto(path));
    await expect(page.getByRole("heading", { level: 1, name: heading })).toBeVisible();
    expect(await violations(), path).toEqual([]);
  }
  // Client-side navigation and React hydration ran too (the nav link is a client transition).
  await page.getByRole("link", { name: "Account" }).first().click();
  await expect(page.getByRole("heading", { level: 1, name: "Account" })).toBeVisible();
  expect(await violations()).toEqual([]);
  expect(errors).toEqual([]);
});

/**
 * An attacker's page on another origin of the same site (another port of 127.0.0.1, like a
 * sibling subdomain): SameSite=Lax lets the session cookie travel with its form POSTs, so only the
 * CSRF guard stands between them and the user's instances.
 */
async function startAttackerSite(): Promise<{ url: (target: string, enctype: string) => string; close: () => Promise<void> }> {
  const server = http.createServer((request, response) => {
    const params = new URL(request.url ?? "/", "http://attacker").searchParams;
    const target = params.get("target") ?? "";
    const enctype = params.get("enctype") ?? "text/plain";
    response.writeHead(200, { "content-type": "text/html" });
    response.end(`<!doctype html><form id="f" method="POST" action="${E2E_BASE_URL}${target}" enctype="${enctype}">
      <input name='{"ignored":"' value='"}'></form><script>document.getElementById("f").submit()</script>`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (target, enctype) => `http://127.0.0.1:${port}/?target=${encodeURIComponent(target)}&enctype=${encodeURIComponent(enctype)}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

test("cross-site form POSTs to session routes get 403 and change nothing; the app's own requests still work", async ({ page, browser }) => {
  const name = uniqueName("csrf");
  await signIn(page, e2eUsers.other);
  await createRunningInstance(page, name);
  const { instances } = (await (await page.request.get("/api/instances")).json()) as { instances: { id: string; name: string }[] };
  const id = instances.find((instance) => instance.name === name)!.id;
  const snapshot = async () => {
    const config = (await (await page.request.get(`/api/instances/${id}/config`)).json()) as Record<string, unknown>;
    const status = (await (await page.request.get(`/api/instances/${id}/status`)).json()) as Record<string, unknown>;
    return { keyId: config.keyId, deployedKeyId: config.deployedKeyId, keyHealth: config.keyHealth, status: status.status, machineId: status.machineId };
  };
  const before = await snapshot();
  expect(before).toMatchObject({ status: "running", keyHealth: "ok" });

  const attacker = await startAttackerSite();
  try {
    const attempt = async (victim: Page, target: string, enctype: string) => {
      const answered = victim.waitForResponse((response) => response.url() === `${E2E_BASE_URL}${target}` && response.request().method() === "POST");
      await victim.goto(attacker.url(target, enctype));
      const response = await answered;
      expect(response.status(), `${enctype} → ${target}`).toBe(403);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe("csrf_rejected");
    };
    for (const enctype of ["text/plain", "application/x-www-form-urlencoded"]) {
      for (const target of [`/api/instances/${id}/stop`, `/api/instances/${id}/redeploy`, `/api/instances/${id}/start`, "/api/account/rotate-pepper"]) {
        await attempt(page, target, enctype);
      }
    }
    // The admin's session is no different.
    const adminContext = await browser.newContext();
    const adminPage = await adminContext.newPage();
    await signIn(adminPage, e2eUsers.admin);
    for (const enctype of ["text/plain", "application/x-www-form-urlencoded"]) await attempt(adminPage, `/api/admin/instances/${id}/redeploy`, enctype);
    await adminContext.close();
  } finally {
    await attacker.close();
  }
  expect(await snapshot()).toEqual(before);

  // The same calls made by the app's own page (same-origin JSON) go through.
  await page.goto("/dashboard");
  const fromTheApp = await page.evaluate(async (instanceId) => {
    const response = await fetch(`/api/instances/${instanceId}/stop`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    return { status: response.status, body: (await response.json()) as { status?: string } };
  }, id);
  expect(fromTheApp.status).toBe(200);
  expect(fromTheApp.body.status).toBe("stopped");
  expect((await snapshot()).status).toBe("stopped");
});

test("Sign out everywhere ends the session in every browser", async ({ page, browser }) => {
  await signIn(page, e2eUsers.user);
  const elsewhere = await browser.newContext();
  const otherBrowser = await elsewhere.newPage();
  await signIn(otherBrowser, e2eUsers.user);

  await page.goto("/account");
  await page.getByRole("button", { name: "Sign out everywhere" }).click();
  await expect(page).toHaveURL(/\/sign-in/);
  await otherBrowser.goto("/dashboard");
  await expect(otherBrowser).toHaveURL(/\/sign-in/);
  // Signing in again works at once.
  await signIn(otherBrowser, e2eUsers.user);
  await elsewhere.close();
});

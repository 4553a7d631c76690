import { expect, test } from "@playwright/test";
import { e2eUsers } from "./fixtures";
import { signIn } from "./helpers";

const secret = process.env.E2E_NEXTAUTH_SECRET ?? "";

/** Strings that must never reach a browser: the signing secret, any password, any password hash. */
function leaks(text: string): string[] {
  const found: string[] = [];
  if (secret && text.includes(secret)) found.push("NEXTAUTH_SECRET");
  if (/scrypt\$\d+\$/.test(text)) found.push("password hash");
  for (const account of Object.values(e2eUsers)) if (text.includes(account.password)) found.push(`password of ${account.email}`);
  return found;
}

test("no page, API response or client bundle contains a secret or a password hash", async ({ page }) => {
  expect(secret).toHaveLength(64);
  const bodies: string[] = [];
  page.on("response", async (response) => {
    const type = response.headers()["content-type"] ?? "";
    if (/text|json|javascript/.test(type)) bodies.push(await response.text().catch(() => ""));
  });
  await signIn(page, e2eUsers.admin);
  for (const path of ["/dashboard", "/account", "/admin", "/api/auth/session"]) await page.goto(path);
  await page.waitForLoadState("networkidle");

  const scripts = await page.locator("script[src]").evaluateAll((elements) => elements.map((element) => (element as HTMLScriptElement).src));
  for (const src of scripts) bodies.push(await (await page.request.get(src)).text());

  expect(bodies.length).toBeGreaterThan(5);
  expect(bodies.flatMap(leaks)).toEqual([]);
});

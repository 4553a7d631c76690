/**
 * Rotating NEXTAUTH_SECRET on a real server (next start, restarted as an operator would): a session
 * sealed under the old secret still opens while that secret is in NEXTAUTH_SECRET_PREVIOUS, a page
 * visit re-seals it under the new secret, and the re-sealed session survives the old secret's removal.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedAccount, startApiServer, type ApiServer, type SeededAccount } from "@/test/http/api-server";

function sessionCookieFrom(response: { headers: Headers }): string | undefined {
  const cookie = response.headers.getSetCookie().find((value) => value.startsWith("next-auth.session-token="));
  return cookie?.split(";")[0];
}

describe("signing-secret rotation keeps people signed in (next start)", () => {
  let server: ApiServer;
  let account: SeededAccount;

  beforeAll(async () => {
    server = await startApiServer({
      seed: async (db) => {
        account = await seedAccount(db, { email: "rotation@secret.test", role: "admin" });
      },
    });
  }, 240_000);

  afterAll(async () => {
    await server?.close();
  });

  it("an admin signed in before the rotation stays signed in through both restarts", async () => {
    const oldSecret = server.secrets.NEXTAUTH_SECRET!;
    const newSecret = randomBytes(32).toString("hex");
    const signedIn = await server.signIn(account);
    expect((await server.request("GET", "/api/admin/key-health", { cookie: signedIn })).status).toBe(200);

    // Step one of the runbook: the new secret signs, the old one only verifies.
    await server.restart({ NEXTAUTH_SECRET: newSecret, NEXTAUTH_SECRET_PREVIOUS: oldSecret });
    expect((await server.request("GET", "/api/admin/key-health", { cookie: signedIn })).status).toBe(200);
    const page = await server.request("GET", "/dashboard", { cookie: signedIn });
    expect(page.status).toBe(200);
    const resealed = sessionCookieFrom(page);
    expect(resealed, "the page visit re-seals the session under the new secret").toBeDefined();
    // A session already under the current secret is left alone.
    expect(sessionCookieFrom(await server.request("GET", "/dashboard", { cookie: resealed! }))).toBeUndefined();

    // Step two: the old secret is dropped. The re-sealed session lives on; the old cookie is dead.
    await server.restart({ NEXTAUTH_SECRET: newSecret, NEXTAUTH_SECRET_PREVIOUS: undefined });
    expect((await server.request("GET", "/api/admin/key-health", { cookie: resealed! })).status).toBe(200);
    expect((await server.request("GET", "/api/admin/key-health", { cookie: signedIn })).status).toBe(401);
    expect(server.logs()).not.toContain(oldSecret);
    expect(server.logs()).not.toContain(newSecret);
  }, 120_000);
});

import http from "node:http";
import type { AddressInfo } from "node:net";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { users } from "@/db/schema";
import { createTestDatabase, type TestDatabase } from "@/test/db";
import { decideGithubSignIn } from "./github";

/**
 * A small HTTP stand-in for the two GitHub API endpoints the decision reads (`/user/emails`,
 * `/user/memberships/orgs/{org}`), answering per access token; the decision's fetch is pointed at it.
 */
interface GithubAccount {
  emails: { email: string; primary: boolean; verified: boolean }[];
  orgs: Record<string, "active" | "pending">;
}

describe("GitHub sign-in decisions", () => {
  let database: TestDatabase;
  let server: http.Server;
  let base: string;
  const accounts = new Map<string, GithubAccount>();
  const open = { GITHUB_ALLOWED_ORGS: [] as string[], SIGNUP_ALLOWED_EMAIL_DOMAINS: [] as string[] };

  const viaStandIn: typeof fetch = (input, init) => fetch(String(input).replace("https://api.github.com", base), init);

  beforeAll(async () => {
    database = await createTestDatabase("pglite");
    server = http.createServer((request, response) => {
      const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? "")?.[1] ?? "";
      const account = accounts.get(token);
      const url = request.url ?? "";
      const send = (status: number, body: unknown) => {
        response.writeHead(status, { "content-type": "application/json" });
        response.end(JSON.stringify(body));
      };
      if (!account) return send(401, { message: "Bad credentials" });
      if (url === "/user/emails") return send(200, account.emails);
      const org = /^\/user\/memberships\/orgs\/([^/]+)$/.exec(url)?.[1];
      if (org && account.orgs[org]) return send(200, { state: account.orgs[org] });
      return send(404, { message: "Not Found" });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await database?.close();
  });

  const decide = (githubId: string, token: string, env = open) => decideGithubSignIn(database.db, { githubId, accessToken: token }, env, viaStandIn);

  it("with no allow-list, signs in linked users only; strangers cannot sign up", async () => {
    accounts.set("t-stranger", { emails: [{ email: "new@corp.example", primary: true, verified: true }], orgs: {} });
    expect(await decide("1001", "t-stranger")).toEqual({ allowed: false, reason: "sign_up_not_allowed" });
    const [linked] = await database.db.insert(users).values({ email: "linked@corp.example", githubId: "1002" }).returning();
    // Linked by the account id: the token's emails do not even matter.
    expect(await decide("1002", "no-such-token")).toEqual({ allowed: true, userId: linked!.id });
  });

  it("signs up by verified primary email domain or active org membership, binding the account id", async () => {
    accounts.set("t-domain", { emails: [{ email: "Dev@Corp.Example", primary: true, verified: true }], orgs: {} });
    const byDomain = await decide("2001", "t-domain", { ...open, SIGNUP_ALLOWED_EMAIL_DOMAINS: ["corp.example"] });
    expect(byDomain.allowed).toBe(true);
    const [row] = await database.db.select().from(users).where(eq(users.githubId, "2001"));
    expect(row).toMatchObject({ email: "dev@corp.example", passwordHash: null, role: "user" });

    accounts.set("t-org", { emails: [{ email: "ops@elsewhere.example", primary: true, verified: true }], orgs: { fleetdeck: "active", other: "pending" } });
    expect((await decide("2002", "t-org", { ...open, GITHUB_ALLOWED_ORGS: ["fleetdeck"] })).allowed).toBe(true);
    accounts.set("t-pending", { emails: [{ email: "invitee@elsewhere.example", primary: true, verified: true }], orgs: { fleetdeck: "pending" } });
    expect(await decide("2003", "t-pending", { ...open, GITHUB_ALLOWED_ORGS: ["fleetdeck"] })).toEqual({ allowed: false, reason: "sign_up_not_allowed" });
  });

  it("an unverified or non-primary email is not enough, whatever the domain", async () => {
    accounts.set("t-unverified", {
      emails: [
        { email: "boss@corp.example", primary: true, verified: false },
        { email: "boss2@corp.example", primary: false, verified: true },
      ],
      orgs: {},
    });
    expect(await decide("3001", "t-unverified", { ...open, SIGNUP_ALLOWED_EMAIL_DOMAINS: ["corp.example"] })).toEqual({ allowed: false, reason: "no_verified_email" });
  });

  it("never takes over a password or admin account, nor one linked to another GitHub account", async () => {
    await database.db.insert(users).values([
      { email: "admin@corp.example", role: "admin" },
      { email: "pw@corp.example", passwordHash: "scrypt$1$1$1$x$y" },
      { email: "taken@corp.example", githubId: "4999" },
    ]);
    const allowAll = { ...open, SIGNUP_ALLOWED_EMAIL_DOMAINS: ["corp.example"] };
    for (const [token, email] of [["t-a", "admin@corp.example"], ["t-p", "pw@corp.example"], ["t-t", "taken@corp.example"]] as const) {
      accounts.set(token, { emails: [{ email, primary: true, verified: true }], orgs: {} });
      expect(await decide(`4${token}`, token, allowAll)).toEqual({ allowed: false, reason: "email_belongs_to_another_account" });
    }
  });

  it("links an older passwordless GitHub user by verified email, once", async () => {
    const [legacy] = await database.db.insert(users).values({ email: "legacy@corp.example" }).returning();
    accounts.set("t-legacy", { emails: [{ email: "legacy@corp.example", primary: true, verified: true }], orgs: {} });
    expect(await decide("5001", "t-legacy")).toEqual({ allowed: true, userId: legacy!.id });
    // Another GitHub account with the same verified email cannot claim it afterwards.
    expect(await decide("5002", "t-legacy")).toEqual({ allowed: false, reason: "email_belongs_to_another_account" });
  });
});

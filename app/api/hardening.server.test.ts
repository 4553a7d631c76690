/**
 * The edges of the production build (`next start`): cross-site requests to session routes, control
 * characters and malformed next-auth bodies, security headers, the sign-in throttle's view of the
 * client address, sessions that end, quotas and the operation rate limit.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instances, type InstanceRow } from "@/db/schema";
import { expectError } from "@/test/http/expectations";
import { databaseFingerprint, seedAccount, startApiServer, type ApiServer, type SeededAccount } from "@/test/http/api-server";

const provisioned = (ownerId: string) => ({ ownerId, name: "edge", provider: "local" as const, region: "local", imageTag: "latest" });

describe("edges: CSRF, bad input, headers, client address (next start)", () => {
  let server: ApiServer;
  let alice: SeededAccount;
  let admin: SeededAccount;
  let instance: InstanceRow;
  let before: Record<string, string>;
  let aliceCookie: string;
  let adminCookie: string;

  beforeAll(async () => {
    server = await startApiServer({
      seed: async (db) => {
        alice = await seedAccount(db, { email: "alice@edges.test" });
        admin = await seedAccount(db, { email: "admin@edges.test", role: "admin" });
        [instance] = await db.insert(instances).values(provisioned(alice.row.id)).returning() as [InstanceRow];
        before = await databaseFingerprint(db);
      },
    });
    [aliceCookie, adminCookie] = await Promise.all([server.signIn(alice), server.signIn(admin)]);
  }, 240_000);

  afterAll(async () => {
    await server?.close();
  });

  it("every state-changing session route refuses what a cross-site page can send (403 csrf_rejected)", async () => {
    const routes: [string, string, "user" | "admin"][] = [
      ["POST", `/api/instances/${instance.id}/start`, "user"],
      ["POST", `/api/instances/${instance.id}/stop`, "user"],
      ["POST", `/api/instances/${instance.id}/redeploy`, "user"],
      ["POST", "/api/account/rotate-pepper", "user"],
      ["POST", `/api/admin/instances/${instance.id}/redeploy`, "admin"],
      ["PATCH", `/api/admin/users/${alice.row.id}`, "admin"],
      ["POST", `/api/admin/users/${alice.row.id}/sign-out-everywhere`, "admin"],
    ];
    const crossSite: [string, { headers: Record<string, string>; body?: string }][] = [
      ["text/plain form", { headers: { "content-type": "text/plain", origin: "http://evil.127.0.0.1.nip.io" }, body: '{"maxInstances":99}' }],
      ["urlencoded form", { headers: { "content-type": "application/x-www-form-urlencoded", origin: "http://sibling.example" }, body: "a=1" }],
      ["multipart form", { headers: { "content-type": "multipart/form-data; boundary=x", "sec-fetch-site": "same-site" }, body: "--x--" }],
      ["same-origin text/plain", { headers: { "content-type": "text/plain", "sec-fetch-site": "same-origin" }, body: "{}" }],
      ["JSON from another origin", { headers: { "content-type": "application/json", origin: "http://127.0.0.1:1" }, body: '{"maxInstances":99}' }],
      ["JSON from an opaque origin", { headers: { "content-type": "application/json", origin: "null", "sec-fetch-site": "cross-site" }, body: "{}" }],
      ["JSON with no origin at all", { headers: { "content-type": "application/json", origin: "" }, body: "{}" }],
    ];
    for (const [method, path, who] of routes) {
      for (const [label, request] of crossSite) {
        const answer = await server.request(method, path, { cookie: who === "admin" ? adminCookie : aliceCookie, ...request });
        expect(answer.status, `${label}: ${method} ${path}`).toBe(403);
        expectError(answer, 403, "csrf_rejected");
      }
    }
    // Bearer routes are not session routes: the same plain request is judged on its bearer only.
    expectError(await server.request("POST", `/api/platform/instances/${instance.id}/stop`, { headers: { "content-type": "text/plain", origin: "http://evil.example" } }), 401, "unauthorized");
    // The same request from the app's own origin passes the guard (and the operation then decides).
    const own = await server.request("POST", `/api/instances/${instance.id}/stop`, { cookie: aliceCookie, headers: { "sec-fetch-site": "same-origin", origin: "" } });
    expect(own.status, own.text).not.toBe(403);
  }, 120_000);

  it("control characters in text parameters are a 400, never a 500", async () => {
    const ownerCursor = Buffer.from(JSON.stringify({ sort: "owner", order: "asc", value: "a\u0000b", id: instance.id })).toString("base64url");
    for (const query of ["?ownerSearch=%00", "?ownerSearch=ad%01min", `?sort=owner&cursor=${ownerCursor}`, "?owner=a%00@b.c", "?status=running%0a"]) {
      expectError(await server.request("GET", `/api/admin/instances${query}`, { cookie: adminCookie }), 400, "bad_request");
    }
    expectError(
      await server.request("POST", "/api/platform/instances", { bearer: server.secrets.INTERNAL_API_SECRET, body: { userId: alice.row.id, name: "nul\u0000name" } }),
      400,
      "bad_request",
    );
    expectError(await server.request("PATCH", `/api/admin/users/${alice.row.id}`, { cookie: adminCookie, body: { maxInstances: "\u0007" } }), 400, "bad_request");
  });

  it("/api/auth/* answers malformed and oversized bodies with 400/413/415 in the error shape", async () => {
    const csrf = await server.request("GET", "/api/auth/csrf");
    expect(csrf.status).toBe(200);
    const paths = ["/api/auth/callback/credentials", "/api/auth/signin/credentials", "/api/auth/signout", "/api/auth/_log"];
    for (const path of paths) {
      expectError(await server.request("POST", path, { body: "{", headers: { "content-type": "application/json" } }), 400, "bad_request");
      expectError(await server.request("POST", path, { body: "[1,2]", headers: { "content-type": "application/json" } }), 400, "bad_request");
      expectError(await server.request("POST", path, { body: `email=${"a".repeat(70 * 1024)}`, headers: { "content-type": "application/x-www-form-urlencoded" } }), 413, "payload_too_large");
      expectError(await server.request("POST", path, { body: "<a/>", headers: { "content-type": "application/xml" } }), 415, "unsupported_media_type");
    }
    // A well-formed sign-in still works through the checked body.
    expect(await server.signIn(alice)).toContain("next-auth.session-token");
  });

  it("pages carry a per-response CSP nonce and the security headers; API answers their own strict CSP", async () => {
    const pages = [
      await server.request("GET", "/sign-in"),
      await server.request("GET", "/sign-in"),
      await server.request("GET", "/dashboard", { cookie: aliceCookie }),
      await server.request("GET", "/account", { cookie: aliceCookie }),
      await server.request("GET", "/admin", { cookie: adminCookie }),
    ];
    const nonces = new Set<string>();
    for (const page of pages) {
      expect(page.status, page.path).toBe(200);
      const csp = page.headers.get("content-security-policy") ?? "";
      const nonce = /'nonce-([A-Za-z0-9+/=]+)'/.exec(csp)?.[1];
      expect(nonce, `${page.path}: ${csp}`).toBeDefined();
      nonces.add(nonce!);
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("object-src 'none'");
      expect(csp).not.toContain("unsafe-eval");
      expect(csp).toMatch(/script-src [^;]*'strict-dynamic'/);
      // Next put this response's nonce on every script it rendered.
      const scripts = [...page.text.matchAll(/<script\b[^>]*>/g)].map((match) => match[0]);
      expect(scripts.length).toBeGreaterThan(0);
      for (const script of scripts) expect(script, page.path).toContain(`nonce="${nonce}"`);
      expect(page.headers.get("x-content-type-options")).toBe("nosniff");
      expect(page.headers.get("referrer-policy")).toBe("strict-origin-when-cross-origin");
      expect(page.headers.get("permissions-policy")).toContain("camera=()");
      expect(page.headers.get("x-frame-options")).toBe("DENY");
      expect(page.headers.get("strict-transport-security")).toMatch(/max-age=\d{7,}/);
    }
    expect(nonces.size).toBe(pages.length);
    const api = await server.request("GET", "/api/instances", { cookie: aliceCookie });
    expect(api.headers.get("content-security-policy")).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(api.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("the sign-in throttle sees the socket address: forging X-Forwarded-For does not buy fresh attempts", async () => {
    const outcomes: string[] = [];
    for (let attempt = 0; attempt < 8; attempt++) {
      const csrf = await fetch(`${server.baseUrl}/api/auth/csrf`);
      const { csrfToken } = (await csrf.json()) as { csrfToken: string };
      const cookie = csrf.headers.getSetCookie().map((value) => value.split(";")[0]).join("; ");
      const response = await fetch(`${server.baseUrl}/api/auth/callback/credentials`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", cookie, "x-forwarded-for": `198.51.100.${attempt}`, "x-real-ip": `198.51.100.${attempt}` },
        body: new URLSearchParams({ csrfToken, email: admin.email, password: `wrong-${attempt}`, json: "true" }),
        redirect: "manual",
      });
      const { url } = (await response.json()) as { url: string };
      outcomes.push(new URL(url).searchParams.get("error") ?? "none");
    }
    expect(outcomes.slice(0, 4)).toEqual(Array(4).fill("CredentialsSignin"));
    expect(outcomes.slice(4)).toContain("TooManyAttempts");
  });

  it("none of it changed anything", async () => {
    // The only write above was alice's own same-origin stop (an audit event at most).
    const after = await server.inspect(databaseFingerprint);
    expect(after.users).toEqual(before.users);
    expect(after.idempotency_keys).toEqual(before.idempotency_keys);
    const rows = await server.inspect((db) => db.select().from(instances));
    expect(rows.map((row) => row.ownerId)).toEqual([alice.row.id]);
  });
});

describe("limits and sessions (next start)", () => {
  let server: ApiServer;
  let alice: SeededAccount;
  let bob: SeededAccount;
  let admin: SeededAccount;
  let instance: InstanceRow;

  beforeAll(async () => {
    server = await startApiServer({
      env: { MAX_INSTANCES_PER_USER: "1", OPERATION_RATE_LIMIT_PER_MINUTE: "3" },
      seed: async (db) => {
        [alice, bob, admin] = await Promise.all([
          seedAccount(db, { email: "alice@limits.test" }),
          seedAccount(db, { email: "bob@limits.test" }),
          seedAccount(db, { email: "admin@limits.test", role: "admin" }),
        ]);
        [instance] = await db.insert(instances).values({ ...provisioned(alice.row.id), status: "stopped" }).returning() as [InstanceRow];
      },
    });
  }, 240_000);

  afterAll(async () => {
    await server?.close();
  });

  it("a user's operations past the per-minute limit get 429 rate_limited with Retry-After", async () => {
    const cookie = await server.signIn(alice);
    const answers = [];
    for (let call = 0; call < 4; call++) answers.push(await server.request("POST", `/api/instances/${instance.id}/stop`, { cookie }));
    for (const answer of answers.slice(0, 3)) expect(answer.status, answer.text).not.toBe(429);
    expectError(answers[3]!, 429, "rate_limited");
    const retryAfter = Number(answers[3]!.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
  });

  it("provision beyond the quota is 409 quota_exceeded with the limit; an admin raises one user's limit", async () => {
    const provision = () => server.request("POST", "/api/platform/instances", { bearer: server.secrets.INTERNAL_API_SECRET, body: { userId: bob.row.id } });
    expect((await provision()).status).toBe(201);
    const refused = await provision();
    expectError(refused, 409, "quota_exceeded");
    expect(refused.text).toContain("at most 1 instance");
    const adminCookie = await server.signIn(admin);
    const raised = await server.request("PATCH", `/api/admin/users/${bob.row.id}`, { cookie: adminCookie, body: { maxInstances: 2 } });
    expect(raised.status, raised.text).toBe(200);
    expect(raised.body).toEqual({ id: bob.row.id, maxInstances: 2 });
    expect((await provision()).status).toBe(201);
    expectError(await provision(), 409, "quota_exceeded");
    expectError(await server.request("PATCH", `/api/admin/users/${bob.row.id}`, { cookie: adminCookie, body: { maxInstances: -1 } }), 422, "validation_failed");
  });

  it("Sign out everywhere (by an admin) ends every session of the user at once; a new sign-in works", async () => {
    const [first, second] = [await server.signIn(bob), await server.signIn(bob)];
    for (const cookie of [first, second]) expect((await server.request("GET", "/api/instances", { cookie })).status).toBe(200);
    const adminCookie = await server.signIn(admin);
    expect((await server.request("POST", `/api/admin/users/${bob.row.id}/sign-out-everywhere`, { cookie: adminCookie })).status).toBe(200);
    for (const cookie of [first, second]) expectError(await server.request("GET", "/api/instances", { cookie }), 401, "unauthorized");
    expect((await server.request("GET", "/api/instances", { cookie: adminCookie })).status).toBe(200);
    expect((await server.request("GET", "/api/instances", { cookie: await server.signIn(bob) })).status).toBe(200);
  });
});

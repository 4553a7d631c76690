/**
 * The admin routes (`/api/admin/...`) against the production build: fleet list (filters, sorts,
 * keyset pages), key-health counts, audit events and the admin redeploy.
 */
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instanceEvents, instances, type InstanceRow, type NewInstanceRow } from "@/db/schema";
import { fleetSortValues } from "@/lib/admin/schemas";
import { fleetSortKey } from "@/test/admin/fleet-sort-key";
import { expectBody, expectError } from "@/test/http/expectations";
import { findKeyMaterial, seedAccount, startApiServer, type ApiServer, type SeededAccount } from "@/test/http/api-server";
import { keyHealthValues } from "@/lib/instances/schemas";
import { pepperFingerprint } from "@/lib/keys/fingerprints";
import { fleetJobPageSchema, fleetJobSchema, fleetJobWithItemsSchema } from "@/lib/openapi/fleet-jobs";
import { fleetPageSchema, instanceEventListSchema, instanceSchema, keyHealthSummarySchema } from "@/lib/openapi/schemas";


const DAY = 24 * 3600 * 1000;

describe("admin routes (next start)", () => {
  let server: ApiServer;
  let admin: SeededAccount;
  let user: SeededAccount;
  let xena: SeededAccount;
  let yuri: SeededAccount;
  let adminCookie: string;
  let userCookie: string;
  const seeded = new Map<string, InstanceRow>();
  const expectedHealth = new Map<string, string>();

  beforeAll(async () => {
    server = await startApiServer({
      seed: async (db) => {
        [admin, user, xena, yuri] = await Promise.all([
          seedAccount(db, { email: "root@api.test", role: "admin" }),
          seedAccount(db, { email: "user@api.test" }),
          seedAccount(db, { email: "xena@api.test", name: "Xena" }),
          seedAccount(db, { email: "yuri@api.test" }),
        ]);
        const now = Date.now();
        const at = (ms: number) => new Date(Math.round(now + ms));
        const fp = (account: SeededAccount) => pepperFingerprint(account.row.apiTokenPepper);
        const key = (owner: SeededAccount, expiresIn: number, extra: Partial<NewInstanceRow> = {}): Partial<NewInstanceRow> => {
          const keyId = `key_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
          return {
            keyId,
            deployedKeyId: keyId,
            keyExpiresAt: at(expiresIn),
            deployedKeyExpiresAt: at(expiresIn),
            keyMintedAt: at(expiresIn - 30 * DAY),
            keySource: "minted",
            keyPepperFingerprint: fp(owner),
            ...extra,
          };
        };
        const rows: [string, SeededAccount, string, Partial<NewInstanceRow>][] = [
          ["ok-a", xena, "ok", { status: "running", ...key(xena, 20 * DAY), lastActivityAt: at(-5_000) }],
          ["ok-b", yuri, "ok", { status: "running", ...key(yuri, 25 * DAY), lastActivityAt: at(-4_000) }],
          ["tie-a", xena, "ok", { status: "stopped", ...key(xena, 10 * DAY), deployedKeyExpiresAt: at(10 * DAY), lastActivityAt: at(-3_000) }],
          ["tie-b", yuri, "ok", { status: "stopped", ...key(yuri, 10 * DAY), lastActivityAt: at(-3_000) }],
          ["expiring", xena, "expiring", { status: "running", ...key(xena, 5 * DAY), lastActivityAt: at(-2_000) }],
          ["critical", yuri, "critical", { status: "running", ...key(yuri, 2 * DAY), lastActivityAt: at(-1_000) }],
          ["expired", xena, "expired", { status: "stopped", ...key(xena, -DAY) }],
          ["revoked", yuri, "revoked", { status: "running", ...key(yuri, 20 * DAY), keyRevokedAt: at(-DAY) }],
          ["stale-pepper", xena, "revoked", { status: "running", ...key(xena, 20 * DAY), keyPepperFingerprint: "pf_000000000000" }],
          ["unknown", xena, "unknown", { status: "provisioned" }],
          ["undeployed", yuri, "undeployed", { status: "failed", ...key(yuri, 30 * DAY), deployedKeyId: "key_000000000000", deployedKeyExpiresAt: at(4 * DAY) }],
          ["to-redeploy", yuri, "unknown", { status: "provisioned" }],
          ["destroyed", xena, "destroyed", { status: "destroyed", destroyedAt: at(-DAY) }],
        ];
        // tie-a and tie-b share their deployed expiry exactly.
        rows[3]![3].deployedKeyExpiresAt = rows[2]![3].deployedKeyExpiresAt;
        for (const [index, [name, owner, health, values]] of rows.entries()) {
          const [row] = await db
            .insert(instances)
            .values({
              ownerId: owner.row.id,
              name,
              provider: "local",
              region: "local",
              imageTag: "latest",
              // Millisecond values, so the test's own ordering (from ISO strings) is exact.
              lastActivityAt: at(-60_000 - index * 10),
              ...values,
            })
            .returning();
          seeded.set(name, row!);
          expectedHealth.set(row!.id, health);
        }
      },
    });
    [adminCookie, userCookie] = await Promise.all([server.signIn(admin), server.signIn(user)]);
  }, 240_000);

  afterAll(async () => {
    await server?.close();
  });

  const id = (name: string) => seeded.get(name)!.id;
  const live = () => [...seeded.values()].filter((row) => !row.destroyedAt);
  const list = async (query = "") => expectBody(await server.request("GET", `/api/admin/instances${query}`, { cookie: adminCookie }), fleetPageSchema);

  const adminRoutes = () => [
    ["GET", "/api/admin/instances"],
    ["GET", "/api/admin/key-health"],
    ["POST", `/api/admin/instances/${id("to-redeploy")}/redeploy`],
    ["GET", `/api/admin/instances/${id("ok-a")}/events`],
    ["GET", "/api/admin/jobs"],
    ["POST", "/api/admin/jobs"],
    ["GET", `/api/admin/jobs/${randomUUID()}`],
    ["POST", `/api/admin/jobs/${randomUUID()}/cancel`],
  ] as const;

  it("401 without a session, 403 for a signed-in non-admin, on every admin route", async () => {
    for (const [method, path] of adminRoutes()) {
      expectError(await server.request(method, path), 401, "unauthorized");
      expectError(await server.request(method, path, { bearer: server.secrets.INTERNAL_API_SECRET }), 401, "unauthorized");
      expectError(await server.request(method, path, { cookie: userCookie }), 403, "forbidden");
    }
  });

  it("lists every live instance of every user with its owner and key health", async () => {
    const page = await list("?limit=100");
    expect(page.nextCursor).toBeNull();
    expect(new Set(page.instances.map((instance) => instance.id))).toEqual(new Set(live().map((row) => row.id)));
    for (const instance of page.instances) {
      expect(instance.config.keyHealth, instance.name).toBe(expectedHealth.get(instance.id));
      expect(instance.owner.email).toBe(instance.owner.id === xena.row.id ? "xena@api.test" : "yuri@api.test");
    }
    expect(page.instances.find((instance) => instance.name === "ok-a")?.owner.name).toBe("Xena");
  });

  it("keyset pages in every sort and order cover the fleet exactly once, in order, with ties broken by id", async () => {
    const all = (await list("?limit=100")).instances;
    for (const sort of fleetSortValues) {
      for (const order of ["asc", "desc"] as const) {
        const sign = order === "asc" ? 1 : -1;
        const expected = [...all]
          .sort((a, b) => {
            const [va, vb] = [fleetSortKey(a, sort), fleetSortKey(b, sort)];
            if (va !== vb) {
              if (va === null) return sign; // NULLs last ascending, first descending
              if (vb === null) return -sign;
              return (va < vb ? -1 : 1) * sign;
            }
            return (a.id < b.id ? -1 : 1) * sign;
          })
          .map((instance) => instance.id);
        const walked: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const query: string = `?sort=${sort}&order=${order}&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
          const page = await list(query);
          expect(page.instances.length).toBeLessThanOrEqual(3);
          walked.push(...page.instances.map((instance) => instance.id));
          cursor = page.nextCursor;
          pages++;
        } while (cursor && pages < 20);
        expect(walked, `${sort} ${order}`).toEqual(expected);
      }
    }
  });

  it("filters by key health (SQL agrees with computeKeyHealth), status, owner email, and combinations", async () => {
    const all = (await list("?limit=100")).instances;
    for (const health of keyHealthValues) {
      const page = await list(`?keyHealth=${health}&limit=100`);
      expect(page.instances.map((instance) => instance.id).sort(), health).toEqual(
        all.filter((instance) => instance.config.keyHealth === health).map((instance) => instance.id).sort(),
      );
    }
    const names = async (query: string) => (await list(query)).instances.map((instance) => instance.name).sort();
    expect(await names("?keyHealth=critical,expiring")).toEqual(["critical", "expiring"]);
    expect(await names("?keyHealth=revoked&keyHealth=undeployed")).toEqual(["revoked", "stale-pepper", "undeployed"]);
    expect(await names("?keyHealth=expired")).toEqual(["expired"]);
    expect(await names("?status=failed,provisioned")).toEqual(["to-redeploy", "undeployed", "unknown"]);
    expect(await names("?owner=XENA%40api.test&keyHealth=ok")).toEqual(["ok-a", "tie-a"]);
    expect(await names("?owner=nobody%40api.test")).toEqual([]);
    expect(await names("?ownerSearch=YU&keyHealth=ok,critical")).toEqual(["critical", "ok-b", "tie-b"]);
    expect(await names("?ownerSearch=x%25")).toEqual([]);
    expect(await names("?status=destroyed")).toEqual(["destroyed"]);
    const firstRunning = await list("?status=running&limit=2");
    expect(firstRunning.instances).toHaveLength(2);
    const rest = await list(`?status=running&limit=100&cursor=${encodeURIComponent(firstRunning.nextCursor!)}`);
    expect([...firstRunning.instances, ...rest.instances].map((instance) => instance.name).sort()).toEqual(
      ["critical", "expiring", "ok-a", "ok-b", "revoked", "stale-pepper"],
    );
  });

  it("rejects bad queries: 422 for wrong values or unknown parameters, 400 for a tampered or mismatched cursor", async () => {
    for (const query of [
      "?keyHealth=fine",
      "?status=running,bogus",
      "?limit=0",
      "?limit=101",
      "?limit=abc",
      "?limit=1&limit=2",
      "?sort=name",
      "?order=up",
      "?owner=not-an-email",
      "?ownerSearch=",
      "?ownerSearch=" + "a".repeat(300),
      "?cursor=" + "x".repeat(600),
      "?unknown=1",
    ]) {
      expectError(await server.request("GET", `/api/admin/instances${query}`, { cookie: adminCookie }), 422, "validation_failed");
    }
    const { nextCursor } = await list("?limit=2&sort=keyExpiresAt");
    expect(nextCursor).toEqual(expect.any(String));
    const forge = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    for (const cursor of [
      "garbage",
      nextCursor!.slice(0, -3),
      forge({ sort: "keyExpiresAt", order: "asc", value: "not-a-number", id: randomUUID() }),
      forge({ sort: "keyExpiresAt", order: "asc", value: "99999999999999999999", id: randomUUID() }),
      forge({ sort: "keyExpiresAt", order: "asc", value: "1", id: "nope" }),
      forge({ sort: "status", order: "asc", value: null, id: randomUUID() }),
      forge({ sort: "status", order: "asc", value: "running'--", id: randomUUID() }),
    ]) {
      expectError(await server.request("GET", `/api/admin/instances?sort=keyExpiresAt&cursor=${encodeURIComponent(cursor)}`, { cookie: adminCookie }), 400, "bad_request");
    }
    // A cursor only continues the sort it came from.
    expectError(await server.request("GET", `/api/admin/instances?sort=status&cursor=${encodeURIComponent(nextCursor!)}`, { cookie: adminCookie }), 400, "bad_request");
    expectError(await server.request("GET", `/api/admin/instances?sort=keyExpiresAt&order=desc&cursor=${encodeURIComponent(nextCursor!)}`, { cookie: adminCookie }), 400, "bad_request");
  });

  it("counts live instances per key-health bucket", async () => {
    const counts = expectBody(await server.request("GET", "/api/admin/key-health", { cookie: adminCookie }), keyHealthSummarySchema);
    expect(counts.buckets).toEqual({ ok: 4, previous_signing_key: 0, expiring: 1, critical: 1, expired: 1, revoked: 2, unknown: 2, undeployed: 1 });
    expect(counts.total).toBe(live().length);
  });

  it("redeploys any user's instance as the admin, and the audit log shows who did it", async () => {
    const redeployed = expectBody(
      await server.request("POST", `/api/admin/instances/${id("to-redeploy")}/redeploy`, { cookie: adminCookie }),
      instanceSchema,
    );
    expect(redeployed).toMatchObject({ id: id("to-redeploy"), status: "running" });
    expect(redeployed.config).toMatchObject({ keyHealth: "ok", keySource: "minted", deployedDiffersFromLatest: false });

    const { events } = expectBody(
      await server.request("GET", `/api/admin/instances/${id("to-redeploy")}/events`, { cookie: adminCookie }),
      instanceEventListSchema,
    );
    expect(events[0]).toMatchObject({ action: "redeploy", outcome: "success", actorType: "admin", actorId: admin.row.id, keyId: redeployed.config.keyId });

    const stopped = await server.request("POST", `/api/platform/instances/${id("to-redeploy")}/stop`, { bearer: server.secrets.INTERNAL_API_SECRET });
    expect(stopped.status).toBe(200);
  });

  it("events: limit is honoured, destroyed instances still have a history, unknown and malformed ids are 404", async () => {
    const { events } = expectBody(
      await server.request("GET", `/api/admin/instances/${id("to-redeploy")}/events?limit=1`, { cookie: adminCookie }),
      instanceEventListSchema,
    );
    expect(events).toHaveLength(1);
    expect(events[0]!.action).toBe("stop");
    expectBody(await server.request("GET", `/api/admin/instances/${id("destroyed")}/events`, { cookie: adminCookie }), instanceEventListSchema);
    for (const bad of [randomUUID(), "nope", "' or 1=1 --"]) {
      expectError(await server.request("GET", `/api/admin/instances/${encodeURIComponent(bad)}/events`, { cookie: adminCookie }), 404, "not_found");
      expectError(await server.request("POST", `/api/admin/instances/${encodeURIComponent(bad)}/redeploy`, { cookie: adminCookie }), 404, "not_found");
    }
    for (const query of ["?limit=0", "?limit=201", "?limit=x", "?before=1"]) {
      expectError(await server.request("GET", `/api/admin/instances/${id("ok-a")}/events${query}`, { cookie: adminCookie }), 422, "validation_failed");
    }
  });

  it("admin redeploy refuses bad bodies before doing anything, and other methods are 405", async () => {
    const path = `/api/admin/instances/${id("unknown")}/redeploy`;
    expectError(await server.request("POST", path, { cookie: adminCookie, body: "{" }), 400, "bad_request");
    expectError(await server.request("POST", path, { cookie: adminCookie, body: { force: 1 } }), 422, "validation_failed");
    expectError(await server.request("POST", path, { cookie: adminCookie, body: "{}", headers: { "content-type": "text/csv" } }), 403, "csrf_rejected");
    expectError(await server.request("POST", path, { cookie: adminCookie, body: { pad: "x".repeat(65 * 1024) } }), 413, "payload_too_large");
    for (const method of ["GET", "PUT", "PATCH", "DELETE"]) expectError(await server.request(method, path, { cookie: adminCookie }), 405, "method_not_allowed");
    for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
      expectError(await server.request(method, "/api/admin/instances", { cookie: adminCookie }), 405, "method_not_allowed");
      expectError(await server.request(method, "/api/admin/key-health", { cookie: adminCookie }), 405, "method_not_allowed");
    }
  });

  it("fleet jobs: an admin starts one, it runs on the server to an outcome per item, and bad input is refused in the error shape", async () => {
    const created = expectBody(
      await server.request("POST", "/api/admin/jobs", { cookie: adminCookie, body: { kind: "stop", selection: { type: "instances", ids: [id("expired"), randomUUID()] } } }),
      fleetJobSchema,
      201,
    );
    expect(created).toMatchObject({ kind: "stop", totalItems: 1, createdBy: { id: admin.row.id, email: "root@api.test" } });
    let job = expectBody(await server.request("GET", `/api/admin/jobs/${created.id}`, { cookie: adminCookie }), fleetJobWithItemsSchema);
    for (let tries = 0; job.state !== "finished" && tries < 100; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      job = expectBody(await server.request("GET", `/api/admin/jobs/${created.id}`, { cookie: adminCookie }), fleetJobWithItemsSchema);
    }
    // The instance was already stopped: a no-op, recorded per item.
    expect(job).toMatchObject({ state: "finished", counts: { noop: 1 }, items: [{ position: 0, state: "noop", target: { type: "instance", id: id("expired"), name: "expired", ownerEmail: "xena@api.test" } }] });
    const page = expectBody(await server.request("GET", "/api/admin/jobs?state=finished&limit=5", { cookie: adminCookie }), fleetJobPageSchema);
    expect(page.jobs.map((listed) => listed.id)).toContain(created.id);

    for (const verb of ["pause", "resume", "cancel"]) {
      expectError(await server.request("POST", `/api/admin/jobs/${created.id}/${verb}`, { cookie: adminCookie }), 409, "invalid_state");
      expectError(await server.request("POST", `/api/admin/jobs/${randomUUID()}/${verb}`, { cookie: adminCookie }), 404, "not_found");
      expectError(await server.request("POST", `/api/admin/jobs/not-a-uuid/${verb}`, { cookie: adminCookie }), 404, "not_found");
      expectError(await server.request("GET", `/api/admin/jobs/${created.id}/${verb}`, { cookie: adminCookie }), 405, "method_not_allowed");
    }
    expectError(await server.request("GET", "/api/admin/jobs/not-a-uuid", { cookie: adminCookie }), 404, "not_found");
    for (const body of [
      {},
      { kind: "explode", selection: { type: "instances", ids: [id("ok-a")] } },
      { kind: "redeploy", selection: { type: "owners", ids: [xena.row.id] } },
      { kind: "redeploy", selection: { type: "instances", ids: [] } },
      { kind: "redeploy", selection: { type: "instances", ids: [randomUUID()] } },
      { kind: "redeploy", selection: { type: "filter", filter: { keyHealth: ["nope"] } } },
      { kind: "redeploy", selection: { type: "filter", filter: { status: ["starting"] } } },
    ]) {
      expectError(await server.request("POST", "/api/admin/jobs", { cookie: adminCookie, body }), 422, "validation_failed");
    }
    for (const query of ["?state=bogus", "?cursor=x", "?limit=0", "?limit=101", "?extra=1"]) {
      expectError(await server.request("GET", `/api/admin/jobs${query}`, { cookie: adminCookie }), 422, "validation_failed");
    }
    expectError(await server.request("GET", `/api/admin/jobs/${created.id}?limit=501`, { cookie: adminCookie }), 422, "validation_failed");
  });

  it("no response carried key material; the instance the bad requests named is untouched", async () => {
    expect(await findKeyMaterial(server)).toEqual([]);
    await server.inspect(async (db) => {
      expect(await db.select().from(instanceEvents).where(eq(instanceEvents.instanceId, id("unknown")))).toEqual([]);
      const [row] = await db.select().from(instances).where(eq(instances.id, id("unknown")));
      expect(row).toMatchObject({ status: "provisioned", keyId: null });
    });
  });
});

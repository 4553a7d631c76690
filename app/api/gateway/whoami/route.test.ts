import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getDatabaseHandle, type DatabaseHandle } from "@/db";
import { createTestDatabase, testDrivers, type TestDatabase } from "@/test/db";
import { resetEnvForTests } from "@/shared/env";
import type { MintedApiKey } from "@/lib/keys/mint";
import { rotatePepper } from "@/lib/keys/rotate-pepper";
import { peekKeyStateCache } from "@/lib/keys/runtime";
import { mintStoredKey, seedUserWithInstance, TEST_SECRET } from "@/test/fixtures/keys";
import { signKiloToken } from "@/lib/tokens/kilo-token";

type RouteHandler = (request: Request, context: { params: Promise<Record<string, string>> }) => Promise<Response>;

const processGlobals = globalThis as typeof globalThis & {
  fleetdeckDatabase?: Promise<DatabaseHandle>;
  fleetdeckKeyStateCache?: Promise<unknown>;
};

/** Everything a request made visible: status, headers, body and every line written to the console or stdio. */
async function call(GET: RouteHandler, authorization?: string) {
  const lines: string[] = [];
  const restore: (() => void)[] = [];
  for (const name of ["log", "info", "warn", "error", "debug"] as const) {
    const original = console[name];
    console[name] = (...args: unknown[]) => void lines.push(args.map((arg) => (typeof arg === "string" ? arg : JSON.stringify(arg))).join(" "));
    restore.push(() => (console[name] = original));
  }
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write.bind(stream);
    stream.write = ((chunk: unknown) => {
      lines.push(String(chunk));
      return true;
    }) as typeof stream.write;
    restore.push(() => (stream.write = original));
  }
  try {
    const request = new Request("http://localhost/api/gateway/whoami", { headers: authorization ? { authorization } : {} });
    const response = await GET(request, { params: Promise.resolve({}) });
    const text = await response.text();
    return { status: response.status, headers: [...response.headers].join("\n"), text, body: JSON.parse(text) as Record<string, unknown>, logs: lines.join("\n") };
  } finally {
    for (const undo of restore.reverse()) undo();
  }
}

function expectNoKeyIn(result: Awaited<ReturnType<typeof call>>, token: string) {
  const signature = token.split(".")[2]!;
  for (const part of [result.text, result.headers, result.logs]) {
    expect(part).not.toContain(token);
    expect(part).not.toContain(signature);
  }
}

// The route reads the process-wide database; the Neon driver needs a test-only bridge it cannot be given.
describe.each(testDrivers().filter((driver) => driver !== "neon"))("GET /api/gateway/whoami on %s", (driver) => {
  const savedEnv = { ...process.env };
  let testDatabase: TestDatabase | undefined;
  let handle: DatabaseHandle;
  let GET: RouteHandler;
  let key: MintedApiKey;

  beforeAll(async () => {
    if (driver === "pglite") {
      delete process.env.DATABASE_URL;
      process.env.PGLITE_DIR = "memory://whoami";
    } else {
      testDatabase = await createTestDatabase(driver);
      process.env.DATABASE_URL = testDatabase.url;
    }
    process.env.NEXTAUTH_SECRET = TEST_SECRET;
    delete process.env.KILO_TOKEN_ENV;
    resetEnvForTests();
    ({ GET } = (await import("./route")) as unknown as { GET: RouteHandler });
    handle = await getDatabaseHandle();
    const { user, instance } = await seedUserWithInstance(handle.db);
    key = await mintStoredKey(handle.db, { userId: user.id, instanceId: instance.id });
  });

  afterAll(async () => {
    await (await processGlobals.fleetdeckDatabase?.catch(() => undefined))?.close().catch(() => {});
    delete processGlobals.fleetdeckDatabase;
    delete processGlobals.fleetdeckKeyStateCache;
    process.env = savedEnv;
    resetEnvForTests();
    await testDatabase?.close();
  });

  it("200 with who the key belongs to, and nothing else", async () => {
    const result = await call(GET, `Bearer ${key.token}`);
    expect(result.status).toBe(200);
    expect(result.body).toEqual({ userId: key.userId, instanceId: key.instanceId, keyId: key.keyId, expiresAt: key.expiresAt.toISOString() });
    expect(result.headers).toMatch(/cache-control,no-store/);
    expectNoKeyIn(result, key.token);
  });

  it("401 token_invalid without a key, with garbage, or with a key signed by someone else", async () => {
    const forged = await signKiloToken({ userId: key.userId, pepper: "x", secret: "not-our-secret-".padEnd(40, "y"), expiresInSeconds: 60, extra: { instanceId: key.instanceId } });
    for (const authorization of [undefined, "Basic abc", "Bearer not-a-key", `Bearer ${forged.token}`]) {
      const result = await call(GET, authorization);
      expect(result.status).toBe(401);
      expect(result.body).toEqual({ error: { code: "token_invalid", message: expect.any(String) } });
      expectNoKeyIn(result, forged.token);
    }
  });

  it("401 token_expired for an expired key", async () => {
    const expired = await signKiloToken({
      userId: key.userId,
      pepper: "x",
      secret: TEST_SECRET,
      expiresInSeconds: 60,
      extra: { instanceId: key.instanceId },
      now: new Date(Date.now() - 120_000),
    });
    const result = await call(GET, `Bearer ${expired.token}`);
    expect(result.status).toBe(401);
    expect(result.body).toMatchObject({ error: { code: "token_expired" } });
    expectNoKeyIn(result, expired.token);
  });

  it("401 token_revoked right after the owner rotates the pepper; a fresh key works", async () => {
    expect((await call(GET, `Bearer ${key.token}`)).status).toBe(200);
    await rotatePepper({ userId: key.userId, actor: { type: "user", id: key.userId } }, { db: handle.db, cache: await peekKeyStateCache() });
    const result = await call(GET, `Bearer ${key.token}`);
    expect(result.status).toBe(401);
    expect(result.body).toMatchObject({ error: { code: "token_revoked" } });
    expectNoKeyIn(result, key.token);

    const fresh = await mintStoredKey(handle.db, { userId: key.userId, instanceId: key.instanceId });
    expect((await call(GET, `Bearer ${fresh.token}`)).body).toMatchObject({ keyId: fresh.keyId });
  });

  it("503 misconfigured without NEXTAUTH_SECRET, before looking at the key", async () => {
    delete process.env.NEXTAUTH_SECRET;
    resetEnvForTests();
    try {
      const result = await call(GET, `Bearer ${key.token}`);
      expect(result.status).toBe(503);
      expect(result.body).toMatchObject({ error: { code: "misconfigured" } });
      expectNoKeyIn(result, key.token);
    } finally {
      process.env.NEXTAUTH_SECRET = TEST_SECRET;
      resetEnvForTests();
    }
  });

  // Last: it closes the process database.
  it("a database that is gone answers without showing the key (503 database_unavailable for a server's lost pool, a logged 500 for PGlite)", async () => {
    const { user, instance } = await seedUserWithInstance(handle.db);
    const unseen = await mintStoredKey(handle.db, { userId: user.id, instanceId: instance.id });
    await handle.close();
    const result = await call(GET, `Bearer ${unseen.token}`);
    if (driver === "pglite") {
      expect(result.status).toBe(500);
      expect(result.body).toMatchObject({ error: { code: "internal_error" } });
      expect(result.logs).toMatch(/unhandled error/);
    } else {
      expect(result.status).toBe(503);
      expect(result.body).toMatchObject({ error: { code: "database_unavailable" } });
      expect(result.headers).toMatch(/retry-after/);
      expect(result.logs).toMatch(/database unavailable/);
    }
    expectNoKeyIn(result, unseen.token);
  });
});

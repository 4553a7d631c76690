import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instances, users } from "./schema";
import { createTestDatabase, testDrivers, type TestDatabase } from "@/test/db";
import { queryRows, selectDriver } from "./client";
import { applyMigrations } from "./migrate";

describe("committed migrations", () => {
  it("match the schema (drizzle-kit finds nothing to generate)", () => {
    const output = execFileSync("npx", ["drizzle-kit", "check"], { encoding: "utf8" });
    expect(output).toMatch(/Everything's fine/);
    const journal = JSON.parse(readFileSync("db/migrations/meta/_journal.json", "utf8")) as {
      entries: { tag: string }[];
    };
    const files = readdirSync("db/migrations").filter((file) => file.endsWith(".sql"));
    expect(files.map((file) => path.basename(file, ".sql"))).toEqual(journal.entries.map((e) => e.tag));
  });

  it("has no schema change waiting to be generated", () => {
    // Generate into a copy of the committed migrations: drizzle-kit must find nothing to do.
    const copy = mkdtempSync(path.join(tmpdir(), "fleetdeck-drift-"));
    cpSync("db/migrations", copy, { recursive: true });
    const run = spawnSync(
      "npx",
      ["drizzle-kit", "generate", "--dialect", "postgresql", "--schema", "./db/schema/index.ts", "--out", path.relative(process.cwd(), copy), "--casing", "snake_case"],
      { encoding: "utf8" },
    );
    const generated = readdirSync(copy).filter((file) => file.endsWith(".sql"));
    rmSync(copy, { recursive: true, force: true });
    expect(run.status).toBe(0);
    expect(`${run.stdout}${run.stderr}`).toMatch(/No schema changes/);
    expect(generated).toEqual(readdirSync("db/migrations").filter((file) => file.endsWith(".sql")));
  });
});

describe("driver selection", () => {
  it.each([
    [undefined, undefined, "pglite"],
    ["postgres://u:p@localhost:5432/db", undefined, "postgres"],
    ["postgresql://u:p@ep-cool-1234.us-east-2.aws.neon.tech/db", undefined, "neon"],
    ["postgres://u:p@localhost:5432/db", "neon", "neon"],
  ] as const)("%s (forced %s) → %s", (url, forced, expected) => {
    expect(selectDriver(url, forced)).toBe(expected);
  });
});

describe.each(testDrivers())("database on %s", (driver) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(driver);
  });
  afterAll(async () => {
    await database?.close();
  });

  it("applies migrations idempotently", async () => {
    await applyMigrations(database);
    const rows = await queryRows(database.db, sql`select count(*)::int as n from drizzle.__drizzle_migrations`);
    expect(rows[0]).toEqual({ n: readdirSync("db/migrations").filter((f) => f.endsWith(".sql")).length });
  });

  it("round-trips a user and an instance, with transactions", async () => {
    const [user] = await database.db
      .insert(users)
      .values({ email: `${driver}@example.com` })
      .returning();
    expect(user?.apiTokenPepper).toMatch(/^[0-9a-f]{48}$/);

    await expect(
      database.db.transaction(async (tx) => {
        await tx.insert(instances).values({
          ownerId: user!.id,
          name: "rolled back",
          provider: "local",
          region: "local",
          imageTag: "latest",
        });
        throw new Error("abort");
      }),
    ).rejects.toThrow("abort");
    const remaining = await database.db.select().from(instances).where(eq(instances.ownerId, user!.id));
    expect(remaining).toHaveLength(0);
  });

  it("delivers NOTIFY to listeners", async () => {
    const received: string[] = [];
    const unlisten = await database.listen("fleetdeck_test", (payload) => received.push(payload));
    await database.db.execute(sql`select pg_notify('fleetdeck_test', 'hello')`);
    await expect.poll(() => received, { timeout: 5_000 }).toEqual(["hello"]);
    await unlisten();
  });
});

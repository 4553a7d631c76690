/**
 * The user scripts as an operator runs them (real `tsx` processes on a PGlite directory):
 * user:create reads the password from stdin when --password is left out, and user:delete destroys
 * the user's instances before deleting the user, leaving the audit log behind.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase } from "@/db/client";
import { instanceEvents, instances, users } from "@/db/schema";
import { verifyPassword } from "@/lib/auth/password";

const dir = mkdtempSync(path.join(tmpdir(), "fleetdeck-user-cli-"));
const pgliteDir = path.join(dir, "pglite");
const env = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  NODE_ENV: "development" as const,
  PGLITE_DIR: pgliteDir,
  DATABASE_DRIVER: "pglite",
  NEXTAUTH_SECRET: randomBytes(32).toString("hex"),
  KEY_ENCRYPTION_KEY: randomBytes(32).toString("hex"),
  GATEWAY_TOKEN_SECRET: randomBytes(32).toString("hex"),
};

function run(script: string, args: string[], input?: string) {
  return spawnSync(path.join("node_modules", ".bin", "tsx"), ["--conditions=react-server", script, ...args], { env, input, encoding: "utf8" });
}

async function withDb<T>(work: (db: Awaited<ReturnType<typeof openDatabase>>["db"]) => Promise<T>): Promise<T> {
  const handle = await openDatabase({ pgliteDir });
  try {
    return await work(handle.db);
  } finally {
    await handle.close();
  }
}

describe("user scripts", () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("user:create reads the password from stdin, user:delete destroys instances first and keeps the audit log", async () => {
    const created = run("scripts/user-create.ts", ["--email", "Cli@Example.com"], "piped-password-1\n");
    expect(created.status, created.stderr).toBe(0);
    expect(created.stdout).toContain("Created user cli@example.com");

    const instanceId = await withDb(async (db) => {
      const [user] = await db.select().from(users).where(eq(users.email, "cli@example.com"));
      expect(await verifyPassword("piped-password-1", user!.passwordHash!)).toBe(true);
      const [row] = await db.insert(instances).values({ ownerId: user!.id, name: "doomed", provider: "local", region: "local", imageTag: "latest" }).returning();
      return row!.id;
    });

    const deleted = run("scripts/user-delete.ts", ["--email", "cli@example.com"]);
    expect(deleted.status, deleted.stderr).toBe(0);
    expect(deleted.stdout).toContain("after destroying 1 instance(s)");

    await withDb(async (db) => {
      expect(await db.select().from(users).where(eq(users.email, "cli@example.com"))).toEqual([]);
      const actions = (await db.select().from(instanceEvents)).map((event) => `${event.action}:${event.outcome}:${event.instanceId ?? "-"}`);
      expect(actions).toEqual(expect.arrayContaining([`destroy:success:${instanceId}`, "user_delete:success:-"]));
    });
  }, 90_000);
});

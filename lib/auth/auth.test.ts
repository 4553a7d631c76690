import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signInAttempts } from "@/db/schema";
import { createTestDatabase, testDrivers, type TestDatabase } from "@/db/testing";
import { upsertUser } from "@/lib/users/users";
import { authorizeCredentials, TOO_MANY_ATTEMPTS } from "./options";
import { hashPassword, verifyPassword } from "./password";
import { MAX_FAILURES_PER_EMAIL, SIGN_IN_WINDOW_MS, isSignInThrottled, recordSignInFailure } from "./throttle";

describe("password hashing", () => {
  it("verifies the right password and rejects a wrong one or a malformed hash", async () => {
    const hash = await hashPassword("correct horse battery");
    expect(hash).toMatch(/^scrypt\$131072\$8\$1\$/);
    expect(hash).not.toContain("correct horse battery");
    expect(await verifyPassword("correct horse battery", hash)).toBe(true);
    expect(await verifyPassword("correct horse battery!", hash)).toBe(false);
    expect(await verifyPassword("anything", "plain-text")).toBe(false);
  });
});

describe.each(testDrivers())("credentials sign-in on %s", (driver) => {
  let database: TestDatabase;
  const headers = (ip: string) => ({ "x-forwarded-for": `${ip}, 10.0.0.1` });

  beforeAll(async () => {
    database = await createTestDatabase(driver);
    await upsertUser(database.db, { email: "Ada@Example.com", password: "ada-password-1", role: "admin" });
  });
  afterAll(async () => {
    await database?.close();
  });

  it("signs in with the right password, case-insensitively on the email", async () => {
    const user = await authorizeCredentials(database.db, { email: "ada@example.com", password: "ada-password-1" }, headers("192.0.2.1"));
    expect(user).toMatchObject({ email: "ada@example.com" });
    expect(user).not.toHaveProperty("passwordHash");
  });

  it("answers unknown email and wrong password the same way", async () => {
    const wrong = await authorizeCredentials(database.db, { email: "ada@example.com", password: "nope-nope-nope" }, headers("192.0.2.2"));
    const unknown = await authorizeCredentials(database.db, { email: "nobody@example.com", password: "nope-nope-nope" }, headers("192.0.2.2"));
    expect(wrong).toBeNull();
    expect(unknown).toBeNull();
  });

  it("throttles an email after repeated failures, even with the right password, until the window passes", async () => {
    const email = "grace@example.com";
    await upsertUser(database.db, { email, password: "grace-password-1" });
    for (let attempt = 0; attempt < MAX_FAILURES_PER_EMAIL; attempt++) {
      expect(await authorizeCredentials(database.db, { email, password: "wrong-password" }, headers(`198.51.100.${attempt}`))).toBeNull();
    }
    await expect(authorizeCredentials(database.db, { email, password: "grace-password-1" }, headers("198.51.100.99"))).rejects.toThrow(TOO_MANY_ATTEMPTS);

    const later = new Date(Date.now() + SIGN_IN_WINDOW_MS + 1_000);
    expect(await isSignInThrottled(database.db, email, undefined, later)).toBe(false);
    await recordSignInFailure(database.db, email, undefined, later);
    const [row] = await database.db.select().from(signInAttempts).where(sql`${signInAttempts.key} = ${`email:${email}`}`);
    expect(row?.failures).toBe(1);
  });

  it("throttles an IP that guesses many emails", async () => {
    const ip = "203.0.113.7";
    for (let attempt = 0; attempt < 30; attempt++) await recordSignInFailure(database.db, `guess${attempt}@example.com`, ip);
    expect(await isSignInThrottled(database.db, "fresh@example.com", ip)).toBe(true);
    expect(await isSignInThrottled(database.db, "fresh@example.com", "203.0.113.8")).toBe(false);
  });
});

describe("clientIp", () => {
  it("trusts only the hop our proxy appended, not what the client put first", async () => {
    const { clientIp } = await import("./options");
    expect(clientIp({ "x-forwarded-for": "203.0.113.9, 198.51.100.4" })).toBe("198.51.100.4");
    expect(clientIp({ "x-real-ip": "198.51.100.5" })).toBe("198.51.100.5");
    expect(clientIp(undefined)).toBeUndefined();
  });
});

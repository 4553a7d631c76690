import { randomBytes, scryptSync } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "@/db";
import { instanceEvents, signInAttempts, users } from "@/db/schema";
import { createTestDatabase, testDrivers, type TestDatabase } from "@/test/db";
import { PEER_ADDRESS_HEADER, clientAddress } from "@/lib/http/peer-address";
import { endAllSessions, upsertUser } from "@/lib/users/users";
import { authorizeCredentials, TOO_MANY_ATTEMPTS } from "./options";
import { HASH_QUEUE_LIMIT, hashPassword, isPasswordHashingBusy, verifyPassword } from "./password";
import { SIGN_IN_WINDOW_MS, THROTTLE_LIMITS, countSignInFailures, reserveSignInAttempt, throttleKeys } from "./throttle";

/** A real scrypt hash with cheap parameters (N=2^12): verifyPassword honours the ones in the hash. */
function cheapHash(password: string): string {
  const salt = randomBytes(16);
  return ["scrypt", 4096, 8, 1, salt.toString("base64url"), scryptSync(password, salt, 32, { N: 4096, r: 8, p: 1 }).toString("base64url")].join("$");
}

async function createUser(db: Database, email: string, password: string, role: "user" | "admin" = "user") {
  await db.insert(users).values({ email: email.toLowerCase(), passwordHash: cheapHash(password), role });
}

describe("password hashing", () => {
  it("verifies the right password and rejects a wrong one or a malformed hash", async () => {
    const hash = await hashPassword("correct horse battery");
    expect(hash).toMatch(/^scrypt\$131072\$8\$1\$/);
    expect(hash).not.toContain("correct horse battery");
    expect(await verifyPassword("correct horse battery", hash)).toBe(true);
    expect(await verifyPassword("correct horse battery!", hash)).toBe(false);
    expect(await verifyPassword("anything", "plain-text")).toBe(false);
  });

  it("runs one hash at a time and refuses new ones once the line is full", async () => {
    // Cheap parameters so a full line drains quickly; the bound is the same for any cost.
    const cheap = cheapHash("pw");
    const results = await Promise.allSettled(Array.from({ length: HASH_QUEUE_LIMIT + 10 }, () => verifyPassword("pw", cheap)));
    const refused = results.filter((result) => result.status === "rejected");
    expect(refused.length).toBeGreaterThanOrEqual(9);
    expect(refused.every((result) => isPasswordHashingBusy(result.reason))).toBe(true);
    expect(results.filter((result) => result.status === "fulfilled" && result.value === true).length).toBe(results.length - refused.length);
    // Once the line has drained, checks are accepted again.
    expect(await verifyPassword("pw", cheap)).toBe(true);
  });
});

describe.each(testDrivers())("credentials sign-in on %s", (driver) => {
  let database: TestDatabase;
  // A socket peer (stamped by the server) plus whatever X-Forwarded-For the client made up.
  const from = (ip: string, forged = "203.0.113.250") => ({ [PEER_ADDRESS_HEADER]: ip, "x-forwarded-for": forged });

  beforeAll(async () => {
    database = await createTestDatabase(driver);
    await createUser(database.db, "Ada@Example.com", "ada-password-1", "admin");
  });
  afterAll(async () => {
    await database?.close();
  });

  it("signs in with the right password, case-insensitively on the email", async () => {
    const user = await authorizeCredentials(database.db, { email: "ada@example.com", password: "ada-password-1" }, from("192.0.2.1"));
    expect(user).toMatchObject({ email: "ada@example.com" });
    expect(user).not.toHaveProperty("passwordHash");
    // A correct password gives its slot back: nothing stays counted against the pair or the IP.
    const keys = throttleKeys("ada@example.com", "192.0.2.1");
    expect(await countSignInFailures(database.db, keys.pair)).toBe(0);
    expect(await countSignInFailures(database.db, keys.ip)).toBe(0);
  });

  it("answers unknown email and wrong password the same way", async () => {
    const wrong = await authorizeCredentials(database.db, { email: "ada@example.com", password: "nope-nope-nope" }, from("192.0.2.2"));
    // (The unknown email is checked against a dummy hash of full cost, so it takes as long as a real one.)
    const unknown = await authorizeCredentials(database.db, { email: "nobody@example.com", password: "nope-nope-nope" }, from("192.0.2.2"));
    expect(wrong).toBeNull();
    expect(unknown).toBeNull();
  });

  it("twenty wrong passwords for the admin from one IP do not stop the admin signing in from another", async () => {
    const attacker = "198.51.100.66";
    let refused = 0;
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        expect(await authorizeCredentials(database.db, { email: "ada@example.com", password: `guess-${attempt}` }, from(attacker))).toBeNull();
      } catch (error) {
        expect((error as Error).message).toBe(TOO_MANY_ATTEMPTS);
        refused++;
      }
    }
    // The progressive delay stops most of them (a delay may run out while a hash is checked), and
    // nothing locks the account itself.
    expect(refused).toBeGreaterThanOrEqual(10);
    const admin = await authorizeCredentials(database.db, { email: "ada@example.com", password: "ada-password-1" }, from("192.0.2.10"));
    expect(admin).toMatchObject({ email: "ada@example.com" });
  });

  it("parallel guesses cannot exceed the limit: each takes its slot before the hash runs", async () => {
    const email = "grace@example.com";
    await createUser(database.db, email, "grace-password-1");
    const ip = "198.51.100.77";
    const results = await Promise.allSettled(
      Array.from({ length: 25 }, (_, index) => authorizeCredentials(database.db, { email, password: `wrong-${index}` }, from(ip))),
    );
    const checked = results.filter((result) => result.status === "fulfilled").length;
    const throttled = results.filter((result) => result.status === "rejected" && (result.reason as Error).message === TOO_MANY_ATTEMPTS).length;
    expect(checked + throttled).toBe(25);
    // The free failures plus the one that starts the delay, however the requests interleave.
    expect(checked).toBeLessThanOrEqual(THROTTLE_LIMITS.pair.free + 1);
    expect(await countSignInFailures(database.db, throttleKeys(email, ip).pair)).toBe(checked);
  });

  async function blockedUntilOf(key: string): Promise<number> {
    const [row] = await database.db.select().from(signInAttempts).where(eq(signInAttempts.key, key));
    return row?.blockedUntil?.getTime() ?? 0;
  }

  it("delays progressively, closes the pair at its maximum, and opens again when the window passes", async () => {
    const email = "hopper@example.com";
    const ip = "198.51.100.88";
    const { pair } = throttleKeys(email, ip);
    const start = Date.now();
    let now = start;
    const delays: number[] = [];
    for (let failure = 1; failure <= THROTTLE_LIMITS.pair.max; failure++) {
      expect(await reserveSignInAttempt(database.db, email, ip, new Date(now)), `failure ${failure}`).toBeDefined();
      const until = await blockedUntilOf(pair);
      delays.push(until ? until - now : 0);
      if (!until) continue;
      // Refused until the delay is over, to the millisecond; accepted from then on.
      expect(await reserveSignInAttempt(database.db, email, ip, new Date(until - 1))).toBeUndefined();
      now = until;
    }
    const { free } = THROTTLE_LIMITS.pair;
    expect(delays.slice(0, free)).toEqual(Array(free).fill(0));
    expect(delays.slice(free)).toEqual(delays.slice(free).map((_, index) => 1_000 * 2 ** index));
    // At the maximum the pair stays closed however long one waits within the window…
    expect(await reserveSignInAttempt(database.db, email, ip, new Date(start + SIGN_IN_WINDOW_MS - 1_000))).toBeUndefined();
    // …but another IP is untouched, and a new window starts afresh.
    expect(await reserveSignInAttempt(database.db, email, "198.51.100.89", new Date(now))).toBeDefined();
    expect(await reserveSignInAttempt(database.db, email, ip, new Date(start + SIGN_IN_WINDOW_MS + 60_000))).toBeDefined();
    expect(await countSignInFailures(database.db, pair)).toBe(1);
  });

  it("throttles an IP that guesses many emails, and only that IP", async () => {
    const ip = "203.0.113.7";
    const now = new Date();
    for (let attempt = 0; attempt <= THROTTLE_LIMITS.ip.free; attempt++) {
      expect(await reserveSignInAttempt(database.db, `guess${attempt}@example.com`, ip, now)).toBeDefined();
    }
    // Past its free failures the IP waits, whichever email it tries next; other addresses do not.
    expect(await reserveSignInAttempt(database.db, "fresh@example.com", ip, now)).toBeUndefined();
    expect(await blockedUntilOf(throttleKeys("", ip).ip)).toBe(now.getTime() + 1_000);
    expect(await reserveSignInAttempt(database.db, "fresh@example.com", "203.0.113.8", now)).toBeDefined();
  });
});

describe.each(testDrivers())("session versions on %s", (driver) => {
  it("a password change and Sign out everywhere move the version on; a name change does not", async () => {
    const database = await createTestDatabase(driver);
    try {
      const { user } = await upsertUser(database.db, { email: "versions@example.com", password: "first-password-1" });
      expect(user.sessionVersion).toBe(0);
      const renamed = await upsertUser(database.db, { email: "versions@example.com", name: "Renamed" });
      expect(renamed.user.sessionVersion).toBe(0);
      const changed = await upsertUser(database.db, { email: "versions@example.com", password: "second-password-2" });
      expect(changed.user.sessionVersion).toBe(1);
      expect(await endAllSessions(database.db, user.id, { type: "admin", id: null })).toBe(true);
      const [row] = await database.db.select().from(users).where(eq(users.id, user.id));
      expect(row!.sessionVersion).toBe(2);
      const events = await database.db.select().from(instanceEvents).where(eq(instanceEvents.userId, user.id));
      expect(events.map((event) => event.action)).toEqual(["sign_out_everywhere"]);
      expect(await endAllSessions(database.db, crypto.randomUUID(), { type: "admin", id: null })).toBe(false);
    } finally {
      await database.close();
    }
  });
});

describe("clientAddress", () => {
  it("with no trusted proxy, the socket peer; forged X-Forwarded-For entries never count", () => {
    expect(clientAddress({ [PEER_ADDRESS_HEADER]: "192.0.2.9", "x-forwarded-for": "203.0.113.1" }, 0)).toBe("192.0.2.9");
    expect(clientAddress({ [PEER_ADDRESS_HEADER]: "::ffff:192.0.2.9" }, 0)).toBe("192.0.2.9");
  });

  it("behind n proxies, the entry the outermost trusted proxy appended", () => {
    const headers = { [PEER_ADDRESS_HEADER]: "10.0.0.2", "x-forwarded-for": "203.0.113.1, 198.51.100.4, 10.0.0.1" };
    expect(clientAddress(headers, 1)).toBe("10.0.0.1");
    expect(clientAddress(headers, 2)).toBe("198.51.100.4");
    // Fewer entries than promised proxies: no address rather than a client-chosen one.
    expect(clientAddress({ [PEER_ADDRESS_HEADER]: "10.0.0.2" }, 1)).toBeUndefined();
    expect(clientAddress(undefined, 0)).toBeUndefined();
  });
});

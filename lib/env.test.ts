import { describe, expect, it } from "vitest";
import { EnvError, parseEnv } from "./env";

describe("parseEnv", () => {
  it("accepts an empty development environment with embedded defaults", () => {
    const env = parseEnv({});
    expect(env).toMatchObject({ NODE_ENV: "development", MACHINE_PROVIDER: "local", PROACTIVE_REFRESH_THRESHOLD_HOURS: 240, REFRESH_CONCURRENCY: 32, FALLBACK_MIN_REMAINING_MINUTES: 60 });
    expect(env.NEXTAUTH_SECRET_PREVIOUS).toEqual([]);
    expect(env.DATABASE_URL).toBeUndefined();
  });

  it("lists every problem with a message that says what to do", () => {
    try {
      parseEnv({
        NEXTAUTH_SECRET: "short",
        DATABASE_URL: "mysql://nope",
        KEY_ENCRYPTION_KEY: "not-32-bytes",
        MACHINE_PROVIDER: "fly",
        PROACTIVE_REFRESH_THRESHOLD_HOURS: "720",
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(EnvError);
      const problems = (error as EnvError).problems.join("\n");
      expect(problems).toMatch(/NEXTAUTH_SECRET: .*at least 32/);
      expect(problems).toMatch(/DATABASE_URL: .*postgres:\/\//);
      expect(problems).toMatch(/KEY_ENCRYPTION_KEY: .*32 bytes/);
      expect(problems).toMatch(/FLY_API_TOKEN: .*MACHINE_PROVIDER=fly/);
      expect(problems).toMatch(/PROACTIVE_REFRESH_THRESHOLD_HOURS: .*below 720/);
      expect(problems).not.toContain("short");
    }
  });

  it("requires a database URL in production unless PGlite is chosen deliberately", () => {
    expect(() => parseEnv({ NODE_ENV: "production" })).toThrow(/DATABASE_URL is required in production/);
    expect(parseEnv({ NODE_ENV: "production", DATABASE_DRIVER: "pglite" }).DATABASE_DRIVER).toBe("pglite");
  });

  it("reads NEXTAUTH_SECRET_PREVIOUS as a comma-separated list of verify-only secrets", () => {
    const current = "c".repeat(40);
    const [a, b] = ["a".repeat(40), "b".repeat(40)];
    expect(parseEnv({ NEXTAUTH_SECRET: current, NEXTAUTH_SECRET_PREVIOUS: ` ${a}, ${b} ,` }).NEXTAUTH_SECRET_PREVIOUS).toEqual([a, b]);
    expect(() => parseEnv({ NEXTAUTH_SECRET: current, NEXTAUTH_SECRET_PREVIOUS: `${a},short` })).toThrow(/NEXTAUTH_SECRET_PREVIOUS: .*at least 32/);
    expect(() => parseEnv({ NEXTAUTH_SECRET: current, NEXTAUTH_SECRET_PREVIOUS: `${a},${current}` })).toThrow(/must not contain NEXTAUTH_SECRET itself/);
    expect(() => parseEnv({ NEXTAUTH_SECRET_PREVIOUS: a })).toThrow(/needs NEXTAUTH_SECRET/);
    for (const thrown of [() => parseEnv({ NEXTAUTH_SECRET: current, NEXTAUTH_SECRET_PREVIOUS: `${a},short` })]) {
      try {
        thrown();
      } catch (error) {
        expect(String(error)).not.toContain(a);
      }
    }
  });

  it("needs the machine service's token with its URL, and a sane lease TTL", () => {
    expect(() => parseEnv({ LOCAL_MACHINES_URL: "http://127.0.0.1:4100" })).toThrow(/LOCAL_MACHINES_TOKEN is required with LOCAL_MACHINES_URL/);
    const env = parseEnv({ LOCAL_MACHINES_URL: "http://127.0.0.1:4100", LOCAL_MACHINES_TOKEN: "0123456789abcdef0123", OPERATION_LEASE_SECONDS: "10" });
    expect(env).toMatchObject({ LOCAL_MACHINES_URL: "http://127.0.0.1:4100", OPERATION_LEASE_SECONDS: 10 });
    expect(parseEnv({}).OPERATION_LEASE_SECONDS).toBeUndefined();
    expect(() => parseEnv({ OPERATION_LEASE_SECONDS: "1" })).toThrow(/OPERATION_LEASE_SECONDS/);
  });
});

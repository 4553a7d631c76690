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
    const complete = {
      NODE_ENV: "production",
      NEXTAUTH_URL: "https://fleet.example.com",
      ...Object.fromEntries(["NEXTAUTH_SECRET", "INTERNAL_API_SECRET", "CRON_SECRET", "KEY_ENCRYPTION_KEY", "GATEWAY_TOKEN_SECRET"].map((name, index) => [name, String(index).repeat(64)])),
    };
    expect(parseEnv({ ...complete, DATABASE_DRIVER: "pglite" }).DATABASE_DRIVER).toBe("pglite");
  });
});

describe("parseEnv in production", () => {
  const secrets = () => ({
    NEXTAUTH_SECRET: "a".repeat(64),
    INTERNAL_API_SECRET: "b".repeat(64),
    CRON_SECRET: "c".repeat(64),
    KEY_ENCRYPTION_KEY: "d".repeat(64),
    GATEWAY_TOKEN_SECRET: "e".repeat(64),
  });
  const production = (extra: Record<string, string>) =>
    ({ NODE_ENV: "production", DATABASE_URL: "postgres://db/fleetdeck", NEXTAUTH_URL: "https://fleet.example.com", ...secrets(), ...extra });
  const problemsOf = (source: Record<string, string>) => {
    try {
      parseEnv(source);
      return [];
    } catch (error) {
      return (error as EnvError).problems;
    }
  };

  it("accepts a complete https deployment, and http only on loopback", () => {
    expect(problemsOf(production({}))).toEqual([]);
    expect(problemsOf(production({ NEXTAUTH_URL: "http://127.0.0.1:3000", GATEWAY_CALLBACK_URL: "http://localhost:3000", FLEETDECK_E2E_FAULTS: "1" }))).toEqual([]);
    expect(problemsOf(production({ NEXTAUTH_URL: "http://[::1]:3000" }))).toEqual([]);
  });

  it("refuses http URLs, missing or repeated secrets, and the e2e fault switch off loopback", () => {
    const problems = problemsOf({
      ...production({ NEXTAUTH_URL: "http://fleet.example.com", GATEWAY_CALLBACK_URL: "http://10.0.0.5:3000", FLEETDECK_E2E_FAULTS: "1" }),
      CRON_SECRET: "a".repeat(64),
      GATEWAY_TOKEN_SECRET: "",
    }).join("\n");
    expect(problems).toMatch(/NEXTAUTH_URL: .*https/);
    expect(problems).toMatch(/GATEWAY_CALLBACK_URL: .*https/);
    expect(problems).toMatch(/CRON_SECRET: .*differ from NEXTAUTH_SECRET/);
    expect(problems).toMatch(/GATEWAY_TOKEN_SECRET: .*required in production/);
    expect(problems).toMatch(/FLEETDECK_E2E_FAULTS: .*loopback/);
    expect(problems).not.toContain("a".repeat(64));
    expect(problemsOf({ ...production({}), NEXTAUTH_URL: "" }).join("\n")).toMatch(/NEXTAUTH_URL is required in production/);
    expect(problemsOf(production({ NEXTAUTH_URL: "http://127.0.0.1.example.com" })).join("\n")).toMatch(/NEXTAUTH_URL: .*https/);
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

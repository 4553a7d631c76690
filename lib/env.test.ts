import { describe, expect, it } from "vitest";
import { EnvError, parseEnv } from "./env";

describe("parseEnv", () => {
  it("accepts an empty development environment with embedded defaults", () => {
    const env = parseEnv({});
    expect(env).toMatchObject({ NODE_ENV: "development", MACHINE_PROVIDER: "local", PROACTIVE_REFRESH_THRESHOLD_HOURS: 72 });
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
      expect(problems).toMatch(/PROACTIVE_REFRESH_THRESHOLD_HOURS: .*at most 240/);
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
});

import { afterEach, describe, expect, it } from "vitest";
import { resetEnvForTests } from "@/shared/env";
import {
  closeMachineProvider,
  createMachineProvider,
  gatewayMachineConfig,
  gatewayTokenFor,
  getMachineProvider,
  whoamiUrlFor,
} from "./index";

afterEach(async () => {
  await closeMachineProvider();
  delete process.env.MACHINE_PROVIDER;
  delete process.env.FLY_API_TOKEN;
  delete process.env.FLY_APP_NAME;
  resetEnvForTests();
});

describe("createMachineProvider", () => {
  it("defaults to the local provider and builds fly from its settings", async () => {
    const local = createMachineProvider({ MACHINE_PROVIDER: "local" });
    expect(local.name).toBe("local");
    await local.close();
    const fly = createMachineProvider({ MACHINE_PROVIDER: "fly", FLY_API_TOKEN: "t", FLY_APP_NAME: "fleetdeck-gw" });
    expect(fly.name).toBe("fly");
    expect(fly.gatewayUrl({ id: "3d8d9016b2e478" })).toBe("http://3d8d9016b2e478.vm.fleetdeck-gw.internal:8080");
  });

  it("refuses fly without a token or an app", () => {
    expect(() => createMachineProvider({ MACHINE_PROVIDER: "fly", FLY_APP_NAME: "a" })).toThrow(/FLY_API_TOKEN/);
    expect(() => createMachineProvider({ MACHINE_PROVIDER: "fly", FLY_API_TOKEN: "t" })).toThrow(/FLY_APP_NAME/);
  });
});

describe("getMachineProvider", () => {
  it("keeps one provider per process on globalThis until closed", async () => {
    process.env.MACHINE_PROVIDER = "fly";
    process.env.FLY_API_TOKEN = "t";
    process.env.FLY_APP_NAME = "fleetdeck-gw";
    resetEnvForTests();
    const first = getMachineProvider();
    expect(first.name).toBe("fly");
    expect(getMachineProvider()).toBe(first);
    expect((globalThis as Record<symbol, unknown>)[Symbol.for("fleetdeck.machines.provider")]).toBe(first);
    await closeMachineProvider();
    delete process.env.MACHINE_PROVIDER;
    resetEnvForTests();
    const second = getMachineProvider();
    expect(second).not.toBe(first);
    expect(second.name).toBe("local");
  });
});

describe("gatewayTokenFor", () => {
  const secret = "0123456789abcdef0123456789abcdef";
  it("is a deterministic per-instance HMAC", () => {
    const token = gatewayTokenFor("inst-1", secret);
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(gatewayTokenFor("inst-1", secret)).toBe(token);
    expect(gatewayTokenFor("inst-2", secret)).not.toBe(token);
    expect(gatewayTokenFor("inst-1", `${secret}x`)).not.toBe(token);
  });

  it("refuses a missing instance id or a short secret", () => {
    expect(() => gatewayTokenFor("", secret)).toThrow();
    expect(() => gatewayTokenFor("inst-1", "short")).toThrow(/32/);
  });
});

describe("gatewayMachineConfig", () => {
  it("builds the env the gateway reads, with the instance's own gateway token", () => {
    const secret = "0123456789abcdef0123456789abcdef";
    const config = gatewayMachineConfig({
      instanceId: "inst-1",
      apiKey: "the-key",
      image: "registry.fly.io/fleetdeck-gateway:1",
      whoamiUrl: whoamiUrlFor("https://fleetdeck.example.com/ignored/path"),
      gatewayTokenSecret: secret,
      keyCheckIntervalMs: 30_000,
    });
    expect(config).toEqual({
      image: "registry.fly.io/fleetdeck-gateway:1",
      env: {
        KILOCODE_API_KEY: "the-key",
        FLEETDECK_WHOAMI_URL: "https://fleetdeck.example.com/api/gateway/whoami",
        GATEWAY_TOKEN: gatewayTokenFor("inst-1", secret),
        INSTANCE_ID: "inst-1",
        KEY_CHECK_INTERVAL_MS: "30000",
      },
      metadata: { fleetdeck_instance_id: "inst-1" },
    });
  });
});

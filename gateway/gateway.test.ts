import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { getGatewayHealth, pushKeyToGateway, waitForGatewayCredential } from "@/lib/machines/gateway-client";
import { gatewayTokenFor } from "@/lib/machines/gateway-token";
import { MachineError } from "@/lib/machines/types";
import { startFakeWhoami, type FakeWhoami } from "@/test/machines/fake-whoami";

const GATEWAY = path.resolve(import.meta.dirname, "gateway.mjs");
const SECRET = "test-gateway-token-secret-0123456789abcdef";
const INSTANCE = "inst-1";
const TOKEN = gatewayTokenFor(INSTANCE, SECRET);

interface RunningGateway {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();
let whoami: FakeWhoami;

function startGateway(env: Record<string, string>): Promise<RunningGateway> {
  const childEnv: Record<string, string> = {
    FLEETDECK_WHOAMI_URL: whoami.url,
    GATEWAY_TOKEN: TOKEN,
    INSTANCE_ID: INSTANCE,
    PORT: "0",
    HOST: "127.0.0.1",
    ...env,
  };
  const child: ChildProcess = spawn(process.execPath, [GATEWAY], {
    env: childEnv as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  running.add(child);
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  return new Promise((resolve, reject) => {
    child.on("message", (message: { type?: string; port?: number }) => {
      if (message.type === "listening") {
        resolve({ child, url: `http://127.0.0.1:${message.port}`, output: () => output, exited });
      }
    });
    void exited.then(({ code }) => reject(new Error(`gateway exited with ${code} before listening: ${output}`)));
  });
}

const settled = (url: string, until?: Parameters<typeof waitForGatewayCredential>[1]["until"]) =>
  waitForGatewayCredential(url, { timeoutMs: 10_000, intervalMs: 25, ...(until ? { until } : {}) });

beforeAll(async () => {
  whoami = await startFakeWhoami();
  whoami.setAnswer("key-valid-1", { kind: "valid", keyId: "kid-1", instanceId: INSTANCE });
  whoami.setAnswer("key-valid-2", { kind: "valid", keyId: "kid-2", instanceId: INSTANCE });
  whoami.setAnswer("key-expired", { kind: "expired" });
  whoami.setAnswer("key-revoked", { kind: "revoked" });
  whoami.setAnswer("key-other-instance", { kind: "valid", keyId: "kid-x", instanceId: "inst-2" });
});

afterEach(async () => {
  whoami.setMode("up");
  for (const child of running) child.kill("SIGKILL");
  await new Promise((resolve) => setTimeout(resolve, 10));
});

afterAll(async () => {
  await whoami.close();
});

describe("gateway credential states at boot", () => {
  it.each([
    ["key-valid-1", "valid", "kid-1"],
    ["key-expired", "expired", null],
    ["key-revoked", "revoked", null],
    ["not-a-known-key", "invalid", null],
    ["key-other-instance", "invalid", "kid-x"],
  ] as const)("%s → %s", async (key, state, keyId) => {
    const gateway = await startGateway({ KILOCODE_API_KEY: key });
    const health = await settled(gateway.url);
    expect(health.status).toBe("ok");
    expect(health.credential.state).toBe(state);
    expect(health.credential.keyId).toBe(keyId);
    expect(health.credential.instanceId).toBe(INSTANCE);
    expect(health.credential.checkedAt).toBeInstanceOf(Date);
    if (state === "valid") {
      const daysLeft = (health.credential.expiresAt!.getTime() - Date.now()) / 86_400_000;
      expect(daysLeft).toBeGreaterThan(29.9);
    }
  });

  it("reports a missing key as invalid without calling whoami", async () => {
    const before = whoami.requestCount;
    const gateway = await startGateway({});
    const health = await getGatewayHealth(gateway.url);
    expect(health.credential.state).toBe("invalid");
    expect(whoami.requestCount).toBe(before);
  });

  it("reports unreachable when whoami resets, fails or hangs, and recovers when it comes back", async () => {
    whoami.setMode("down");
    const gateway = await startGateway({ KILOCODE_API_KEY: "key-valid-1", KEY_CHECK_INTERVAL_MS: "100", WHOAMI_TIMEOUT_MS: "300" });
    expect((await settled(gateway.url)).credential.state).toBe("unreachable");
    whoami.setMode("error");
    expect((await settled(gateway.url, (c) => c.message === "whoami answered 503")).credential.state).toBe("unreachable");
    whoami.setMode("hang");
    expect((await settled(gateway.url, (c) => c.message === "whoami timed out")).credential.state).toBe("unreachable");
    whoami.setMode("up");
    const health = await settled(gateway.url, (c) => c.state === "valid");
    expect(health.credential.keyId).toBe("kid-1");
  });

  it("asks again when whoami's Retry-After says, not after its own 5 s", async () => {
    whoami.setMode("error", { retryAfterSeconds: 1 });
    const gateway = await startGateway({ KILOCODE_API_KEY: "key-valid-1", KEY_CHECK_INTERVAL_MS: "60000" });
    await settled(gateway.url, (c) => c.message === "whoami answered 503");
    const asked = whoami.requestsFor("key-valid-1");
    whoami.setMode("up");
    // Retry-After: 1 brings the next check a second later; the fixed retry would wait five.
    const health = await waitForGatewayCredential(gateway.url, { timeoutMs: 3_500, intervalMs: 25, until: (c) => c.state === "valid" });
    expect(health.credential.keyId).toBe("kid-1");
    expect(whoami.requestsFor("key-valid-1")).toBe(asked + 1);
  });

  it("exits with a clear error when misconfigured", async () => {
    const child: ChildProcess = spawn(process.execPath, [GATEWAY], {
      env: { KILOCODE_API_KEY: "x" } as Record<string, string> as NodeJS.ProcessEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    running.add(child);
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise((resolve) => child.once("exit", resolve));
    running.delete(child);
    expect(code).toBe(2);
    expect(stderr).toContain("FLEETDECK_WHOAMI_URL");
    expect(stderr).toContain("GATEWAY_TOKEN");
  });
});

describe("periodic re-check", () => {
  it("notices a key revoked after boot", async () => {
    whoami.setAnswer("key-soon-revoked", { kind: "valid", keyId: "kid-s", instanceId: INSTANCE });
    const gateway = await startGateway({ KILOCODE_API_KEY: "key-soon-revoked", KEY_CHECK_INTERVAL_MS: "100" });
    expect((await settled(gateway.url)).credential.state).toBe("valid");
    whoami.setAnswer("key-soon-revoked", { kind: "revoked" });
    const health = await settled(gateway.url, (c) => c.state !== "valid");
    expect(health.credential.state).toBe("revoked");
  });
});

describe("POST /env/patch", () => {
  it("applies a valid key only after verifying it", async () => {
    const gateway = await startGateway({ KILOCODE_API_KEY: "key-revoked" });
    expect((await settled(gateway.url)).credential.state).toBe("revoked");
    const before = whoami.requestsFor("key-valid-2");
    const result = await pushKeyToGateway(gateway.url, TOKEN, "key-valid-2");
    expect(result.applied).toBe(true);
    expect(result.credential).toMatchObject({ state: "valid", keyId: "kid-2" });
    expect(whoami.requestsFor("key-valid-2")).toBe(before + 1);
    const health = await getGatewayHealth(gateway.url);
    expect(health.credential).toMatchObject({ state: "valid", keyId: "kid-2" });
  });

  it.each([
    ["key-revoked", "revoked"],
    ["key-expired", "expired"],
    ["garbage", "invalid"],
    ["key-other-instance", "invalid"],
  ] as const)("keeps the old key when the pushed key is %s", async (key, state) => {
    const gateway = await startGateway({ KILOCODE_API_KEY: "key-valid-1" });
    expect((await settled(gateway.url)).credential.keyId).toBe("kid-1");
    const result = await pushKeyToGateway(gateway.url, TOKEN, key);
    expect(result.applied).toBe(false);
    expect(result.credential.state).toBe(state);
    expect((await getGatewayHealth(gateway.url)).credential).toMatchObject({ state: "valid", keyId: "kid-1" });
  });

  it("keeps the old key when whoami is unreachable during the push", async () => {
    const gateway = await startGateway({ KILOCODE_API_KEY: "key-valid-1", WHOAMI_TIMEOUT_MS: "300" });
    // On a busy machine the boot check itself may time out at 300 ms; its retry then confirms the key.
    await settled(gateway.url, (c) => c.state === "valid");
    whoami.setMode("down");
    const result = await pushKeyToGateway(gateway.url, TOKEN, "key-valid-2");
    expect(result).toMatchObject({ applied: false, credential: { state: "unreachable" } });
    expect((await getGatewayHealth(gateway.url)).credential.keyId).toBe("kid-1");
  });

  it("rejects a wrong gateway token, a missing token and malformed bodies", async () => {
    const gateway = await startGateway({ KILOCODE_API_KEY: "key-valid-1" });
    await settled(gateway.url);
    const otherInstanceToken = gatewayTokenFor("inst-2", SECRET);
    await expect(pushKeyToGateway(gateway.url, otherInstanceToken, "key-valid-2")).rejects.toMatchObject({
      kind: "upstream",
      status: 401,
    });
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(`${gateway.url}/env/patch`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", ...headers },
        body,
      });
    expect((await post("{}", { authorization: "" })).status).toBe(401);
    expect((await post("not json")).status).toBe(400);
    expect((await post(JSON.stringify({ KILOCODE_API_KEY: "" }))).status).toBe(422);
    expect((await post(JSON.stringify({ KILOCODE_API_KEY: "key-valid-2", PATH: "/tmp" }))).status).toBe(422);
    expect((await post(JSON.stringify({ KILOCODE_API_KEY: "x".repeat(20_000) }))).status).toBe(413);
    expect((await post("{}", { "content-type": "text/plain" })).status).toBe(415);
    expect((await getGatewayHealth(gateway.url)).credential.keyId).toBe("kid-1");
  });
});

describe("hygiene", () => {
  it("never puts the key in a log line or a response, and exits 0 on SIGTERM", async () => {
    const secretKey = "key-valid-1";
    const gateway = await startGateway({ KILOCODE_API_KEY: secretKey, KEY_CHECK_INTERVAL_MS: "50" });
    await settled(gateway.url);
    await pushKeyToGateway(gateway.url, TOKEN, "key-revoked");
    await pushKeyToGateway(gateway.url, TOKEN, "key-valid-2");
    const raw = await (await fetch(`${gateway.url}/health`)).text();
    expect(raw).not.toContain("key-valid");
    gateway.child.kill("SIGTERM");
    const exit = await gateway.exited;
    expect(exit.code).toBe(0);
    const output = gateway.output();
    expect(output).toContain("gateway shutting down");
    expect(output).not.toContain("key-valid-1");
    expect(output).not.toContain("key-valid-2");
    expect(output).not.toContain("key-revoked");
  });

  it("exits when its parent's IPC channel closes", async () => {
    const gateway = await startGateway({ KILOCODE_API_KEY: "key-valid-1" });
    gateway.child.disconnect();
    const exit = await gateway.exited;
    expect(exit.code).toBe(0);
  });

  it("maps an unreachable gateway to MachineError", async () => {
    const gateway = await startGateway({ KILOCODE_API_KEY: "key-valid-1" });
    gateway.child.kill("SIGKILL");
    await gateway.exited;
    const error = await getGatewayHealth(gateway.url).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MachineError);
    expect((error as MachineError).kind).toBe("upstream");
  });
});

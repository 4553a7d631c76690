import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { getGatewayHealth, pushKeyToGateway, waitForGatewayCredential } from "../gateway-client";
import { gatewayMachineConfig } from "../gateway-config";
import { gatewayTokenFor } from "../gateway-token";
import { startFakeWhoami, type FakeWhoami } from "@/test/machines/fake-whoami";
import { MachineError, type MachineConfig } from "../types";
import { createLocalMachineProvider, type LocalMachineProvider } from "./provider";

const SECRET = "local-provider-test-secret-0123456789abcdef";
let whoami: FakeWhoami;
let fixtures: string;
const providers: LocalMachineProvider[] = [];
const output: string[] = [];

function provider(options: Parameters<typeof createLocalMachineProvider>[0] = {}): LocalMachineProvider {
  const created = createLocalMachineProvider({ onOutput: (line) => output.push(line), stopGraceMs: 2_000, ...options });
  providers.push(created);
  return created;
}

function configFor(instanceId: string, key: string, extraEnv: Record<string, string> = {}): MachineConfig {
  const config = gatewayMachineConfig({
    instanceId,
    apiKey: key,
    image: "ignored-locally",
    whoamiUrl: whoami.url,
    gatewayTokenSecret: SECRET,
  });
  return { ...config, env: { ...config.env, ...extraEnv } };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const until = async (condition: () => boolean | Promise<boolean>, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

beforeAll(async () => {
  whoami = await startFakeWhoami();
  for (const n of [1, 2, 3]) whoami.setAnswer(`key-${n}`, { kind: "valid", keyId: `kid-${n}`, instanceId: "inst-a" });
  whoami.setAnswer("key-b", { kind: "valid", keyId: "kid-b", instanceId: "inst-b" });
  whoami.setAnswer("key-revoked", { kind: "revoked" });
  fixtures = mkdtempSync(path.join(tmpdir(), "fleetdeck-local-"));
  // A "gateway" that ignores SIGTERM, to prove stop escalates to SIGKILL.
  writeFileSync(
    path.join(fixtures, "stubborn.mjs"),
    `import http from "node:http";
     process.on("SIGTERM", () => console.log("ignoring SIGTERM"));
     const server = http.createServer((req, res) => res.end("ok"));
     server.listen(Number(process.env.PORT), "127.0.0.1", () => process.send({ type: "listening", port: server.address().port }));`,
  );
  // A "gateway" that prints the names of its environment variables.
  writeFileSync(
    path.join(fixtures, "env-reporter.mjs"),
    `import http from "node:http";
     console.log("ENV " + Object.keys(process.env).sort().join(","));
     const server = http.createServer((req, res) => res.end("ok"));
     server.listen(Number(process.env.PORT), "127.0.0.1", () => process.send({ type: "listening", port: server.address().port }));
     process.on("SIGTERM", () => process.exit(0));`,
  );
  writeFileSync(path.join(fixtures, "silent.mjs"), `setInterval(() => {}, 1000);`);
});

afterEach(async () => {
  await Promise.all(providers.splice(0).map((created) => created.close()));
});

afterAll(async () => {
  await whoami.close();
  rmSync(fixtures, { recursive: true, force: true });
});

describe("local machine provider", () => {
  it("runs a real gateway per machine and carries it through update, stop, start and destroy", async () => {
    const machines = provider();
    const created = await machines.create({ name: "inst-a", config: configFor("inst-a", "key-1") });
    expect(created.id).toMatch(/^[0-9a-f]{14}$/);
    expect(created.version).toMatch(/^[0-9A-Z]{26}$/);
    expect(created.state).toBe("starting");
    expect(created.region).toBe("local");

    await machines.waitForState(created.id, "started", { timeoutMs: 10_000, version: created.version });
    const url = machines.gatewayUrl(created);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const first = await waitForGatewayCredential(url, { timeoutMs: 5_000, intervalMs: 20 });
    expect(first.credential).toMatchObject({ state: "valid", keyId: "kid-1", instanceId: "inst-a" });
    const firstPid = machines.processOf(created.id)!.pid;
    expect(alive(firstPid)).toBe(true);

    // skip_launch: config and version change, the process does not.
    const stored = await machines.update(created.id, { config: configFor("inst-a", "key-2"), skipLaunch: true });
    expect(stored.version).not.toBe(created.version);
    expect(stored.state).toBe("started");
    expect(stored.config.env.KILOCODE_API_KEY).toBe("key-2");
    expect(machines.processOf(created.id)!.pid).toBe(firstPid);
    expect((await getGatewayHealth(url)).credential.keyId).toBe("kid-1");
    // ...and the live push is what makes the running gateway use it.
    const pushed = await pushKeyToGateway(url, gatewayTokenFor("inst-a", SECRET), "key-2");
    expect(pushed).toMatchObject({ applied: true, credential: { state: "valid", keyId: "kid-2" } });

    await machines.stop(created.id);
    await machines.waitForState(created.id, "stopped", { timeoutMs: 10_000 });
    expect(alive(firstPid)).toBe(false);
    expect(machines.processOf(created.id)).toBeUndefined();
    await machines.stop(created.id); // a no-op when stopped

    // The next start uses the stored config, on the same address.
    await machines.start(created.id);
    await machines.waitForState(created.id, "started", { timeoutMs: 10_000 });
    const restarted = await waitForGatewayCredential(machines.gatewayUrl(created), { timeoutMs: 5_000, intervalMs: 20 });
    expect(restarted.credential.keyId).toBe("kid-2");
    expect(machines.gatewayUrl(created)).toBe(url);
    await machines.start(created.id); // a no-op when started

    // A full update restarts the process with the new config.
    const beforeReplace = machines.processOf(created.id)!.pid;
    const replaced = await machines.update(created.id, { config: configFor("inst-a", "key-3") });
    expect(replaced.state).toBe("replacing");
    await machines.waitForState(created.id, "started", { timeoutMs: 10_000, version: replaced.version });
    expect(alive(beforeReplace)).toBe(false);
    const third = await waitForGatewayCredential(url, { timeoutMs: 5_000, intervalMs: 20, until: (c) => c.keyId === "kid-3" });
    expect(third.credential.state).toBe("valid");

    const lastPid = machines.processOf(created.id)!.pid;
    await expect(machines.destroy(created.id)).rejects.toMatchObject({ kind: "upstream", status: 412 });
    await machines.destroy(created.id, { force: true });
    expect(alive(lastPid)).toBe(false);
    await expect(machines.get(created.id)).rejects.toMatchObject({ kind: "not_found" });
    await machines.destroy(created.id, { force: true }); // repeat is safe
    await machines.waitForState(created.id, "destroyed", { timeoutMs: 1_000 });
    expect(output.join("\n")).not.toMatch(/key-[123]\b/);
  });

  it("moves a machine whose port was taken while it was down to a free one, and boots it there", async () => {
    // Any socket on the host may take a stopped machine's port meanwhile; the machine must not hang on it.
    const machines = provider();
    const created = await machines.create({ name: "inst-a", config: configFor("inst-a", "key-1") });
    await machines.waitForState(created.id, "started", { timeoutMs: 10_000 });
    const takenPort = machines.processOf(created.id)!.port;
    await machines.stop(created.id);
    await machines.waitForState(created.id, "stopped", { timeoutMs: 10_000 });

    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(takenPort, "127.0.0.1", resolve));
    try {
      await machines.start(created.id);
      await machines.waitForState(created.id, "started", { timeoutMs: 10_000 });
      const moved = machines.processOf(created.id)!;
      expect(moved.port).not.toBe(takenPort);
      const health = await waitForGatewayCredential(machines.gatewayUrl(created), { timeoutMs: 5_000, intervalMs: 20 });
      expect(health.credential).toMatchObject({ state: "valid", keyId: "kid-1" });
      expect(output.join("\n")).toContain("EADDRINUSE");
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it("creates without launching, and boots on start", async () => {
    const machines = provider();
    const created = await machines.create({ name: "inst-a", config: configFor("inst-a", "key-1"), skipLaunch: true });
    expect(created.state).toBe("created");
    expect(machines.processOf(created.id)).toBeUndefined();
    await machines.stop(created.id);
    expect((await machines.get(created.id)).state).toBe("created");
    await machines.start(created.id);
    await machines.waitForState(created.id, "started", { timeoutMs: 10_000 });
    expect(machines.processOf(created.id)).toBeDefined();
  });

  it("boots a stopped machine on a full update", async () => {
    const machines = provider();
    const created = await machines.create({ name: "inst-a", config: configFor("inst-a", "key-1"), skipLaunch: true });
    const updated = await machines.update(created.id, { config: configFor("inst-a", "key-2") });
    expect(updated.state).toBe("starting");
    await machines.waitForState(created.id, "started", { timeoutMs: 10_000, version: updated.version });
    const health = await waitForGatewayCredential(machines.gatewayUrl(updated), { timeoutMs: 5_000, intervalMs: 20 });
    expect(health.credential.keyId).toBe("kid-2");
  });

  it("reports a process that dies on its own as failed (crash) or stopped (clean exit)", async () => {
    const machines = provider();
    const crashing = await machines.create({ name: "crash", config: configFor("inst-a", "key-1") });
    const exiting = await machines.create({ name: "exit", config: configFor("inst-a", "key-2") });
    await machines.waitForState(crashing.id, "started", { timeoutMs: 10_000 });
    await machines.waitForState(exiting.id, "started", { timeoutMs: 10_000 });

    process.kill(machines.processOf(crashing.id)!.pid, "SIGKILL");
    process.kill(machines.processOf(exiting.id)!.pid, "SIGTERM"); // the gateway exits 0 on SIGTERM
    await machines.waitForState(crashing.id, "failed", { timeoutMs: 5_000 });
    await machines.waitForState(exiting.id, "stopped", { timeoutMs: 5_000 });
    expect(machines.processOf(crashing.id)).toBeUndefined();

    // A failed machine can be started again.
    await machines.start(crashing.id);
    await machines.waitForState(crashing.id, "started", { timeoutMs: 10_000 });
  });

  it("fails the wait early when the process cannot start", async () => {
    const machines = provider();
    const broken = await machines.create({
      name: "broken",
      config: { image: "x", env: { KILOCODE_API_KEY: "key-1" }, metadata: {} },
    });
    const error = await machines.waitForState(broken.id, "started", { timeoutMs: 10_000 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MachineError);
    expect((error as MachineError).kind).toBe("upstream");
    expect((error as MachineError).message).toMatch(/failed while waiting for started: exited with code 2 \|.*gateway misconfigured/);
    expect((await machines.get(broken.id)).state).toBe("failed");
  });

  it("reports a process that never listens as failed", async () => {
    const machines = provider({ gatewayPath: path.join(fixtures, "silent.mjs"), startTimeoutMs: 300 });
    const created = await machines.create({ name: "silent", config: configFor("inst-a", "key-1") });
    await expect(machines.waitForState(created.id, "started", { timeoutMs: 5_000 })).rejects.toMatchObject({ kind: "upstream" });
    expect(machines.processOf(created.id)).toBeUndefined();
  });

  it("escalates to SIGKILL when a process ignores SIGTERM", async () => {
    const machines = provider({ gatewayPath: path.join(fixtures, "stubborn.mjs"), stopGraceMs: 300 });
    const created = await machines.create({ name: "stubborn", config: configFor("inst-a", "key-1") });
    await machines.waitForState(created.id, "started", { timeoutMs: 10_000 });
    const pid = machines.processOf(created.id)!.pid;
    const started = Date.now();
    await machines.stop(created.id);
    expect((await machines.get(created.id)).state).toBe("stopping");
    await machines.waitForState(created.id, "stopped", { timeoutMs: 5_000 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(alive(pid)).toBe(false);
    expect(output).toContain("ignoring SIGTERM");
  });

  it("gives a machine only its own environment", async () => {
    process.env.FLEETDECK_TEST_PARENT_SECRET = "must-not-leak";
    try {
      const machines = provider({ gatewayPath: path.join(fixtures, "env-reporter.mjs") });
      const created = await machines.create({ name: "env", config: configFor("inst-a", "key-1", { EXTRA: "1" }) });
      await machines.waitForState(created.id, "started", { timeoutMs: 10_000 });
      await until(() => output.some((line) => line.startsWith("ENV ")));
      const names = output.find((line) => line.startsWith("ENV "))!.slice(4).split(",");
      expect(names).toEqual(expect.arrayContaining(["KILOCODE_API_KEY", "EXTRA", "PORT", "HOST", "GATEWAY_TOKEN"]));
      expect(names).not.toContain("FLEETDECK_TEST_PARENT_SECRET");
      expect(names).not.toContain("NODE_OPTIONS");
    } finally {
      delete process.env.FLEETDECK_TEST_PARENT_SECRET;
    }
  });

  it("lists by metadata, rejects duplicate names and stale versions", async () => {
    const machines = provider();
    const a = await machines.create({ name: "inst-a", config: configFor("inst-a", "key-1"), skipLaunch: true });
    const b = await machines.create({ name: "inst-b", config: configFor("inst-b", "key-b"), skipLaunch: true });
    expect((await machines.list({ metadata: { fleetdeck_instance_id: "inst-b" } })).map((m) => m.id)).toEqual([b.id]);
    expect((await machines.list()).map((m) => m.id).sort()).toEqual([a.id, b.id].sort());
    await expect(machines.create({ name: "inst-a", config: configFor("inst-a", "key-1") })).rejects.toMatchObject({
      kind: "upstream",
      status: 409,
    });
    await expect(
      machines.update(a.id, { config: configFor("inst-a", "key-2"), currentVersion: "01STALE0000000000000000000" }),
    ).rejects.toMatchObject({ status: 409 });
    const unchanged = await machines.get(a.id);
    expect(unchanged.version).toBe(a.version);
    expect(unchanged.config.env.KILOCODE_API_KEY).toBe("key-1");
    const guarded = await machines.update(a.id, { config: configFor("inst-a", "key-2"), currentVersion: a.version, skipLaunch: true });
    expect(guarded.version).not.toBe(a.version);
    // Snapshots are copies: mutating one does not touch the machine.
    guarded.config.env.KILOCODE_API_KEY = "tampered";
    expect((await machines.get(a.id)).config.env.KILOCODE_API_KEY).toBe("key-2");
  });

  it("answers not_found for unknown machines, including after an app restart", async () => {
    const before = provider();
    const created = await before.create({ name: "inst-a", config: configFor("inst-a", "key-1") });
    await before.waitForState(created.id, "started", { timeoutMs: 10_000 });
    const pid = before.processOf(created.id)!.pid;
    await before.close();
    expect(alive(pid)).toBe(false);

    const after = provider();
    for (const call of [
      () => after.get(created.id),
      () => after.start(created.id),
      () => after.stop(created.id),
      () => after.update(created.id, { config: configFor("inst-a", "key-2") }),
      () => after.waitForState(created.id, "started", { timeoutMs: 100 }),
    ]) {
      await expect(call()).rejects.toMatchObject({ kind: "not_found" });
    }
    expect(() => after.gatewayUrl(created)).toThrow(MachineError);
    await expect(after.list()).resolves.toEqual([]);
  });

  it("times out a wait and refuses a wait on a superseded version", async () => {
    const machines = provider();
    const created = await machines.create({ name: "inst-a", config: configFor("inst-a", "key-1"), skipLaunch: true });
    await expect(machines.waitForState(created.id, "started", { timeoutMs: 100 })).rejects.toMatchObject({ kind: "timeout" });
    await machines.update(created.id, { config: configFor("inst-a", "key-2"), skipLaunch: true });
    await expect(
      machines.waitForState(created.id, "started", { timeoutMs: 1_000, version: created.version }),
    ).rejects.toMatchObject({ kind: "upstream" });
  });

  it("stops a machine that is still booting, and destroys one mid-boot without leaving a process", async () => {
    const machines = provider();
    const stopping = await machines.create({ name: "stop-early", config: configFor("inst-a", "key-1") });
    await machines.stop(stopping.id);
    await machines.waitForState(stopping.id, "stopped", { timeoutMs: 10_000 });
    expect(machines.processOf(stopping.id)).toBeUndefined();

    const destroyed = await machines.create({ name: "destroy-early", config: configFor("inst-a", "key-1") });
    await machines.destroy(destroyed.id, { force: true });
    await expect(machines.get(destroyed.id)).rejects.toMatchObject({ kind: "not_found" });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(machines.processOf(destroyed.id)).toBeUndefined();
  });

  it("serves concurrent updates and ends on the last config", async () => {
    const machines = provider();
    const created = await machines.create({ name: "inst-a", config: configFor("inst-a", "key-1") });
    await machines.waitForState(created.id, "started", { timeoutMs: 10_000 });
    const updates = await Promise.all(
      ["key-2", "key-3", "key-1", "key-2"].map((key) => machines.update(created.id, { config: configFor("inst-a", key) })),
    );
    const last = updates.at(-1)!;
    await machines.waitForState(created.id, "started", { timeoutMs: 15_000, version: last.version });
    const health = await waitForGatewayCredential(machines.gatewayUrl(last), {
      timeoutMs: 5_000,
      intervalMs: 20,
      until: (c) => c.keyId === "kid-2",
    });
    expect(health.credential.state).toBe("valid");
  });
});

describe("when the control plane dies", () => {
  const orphanScript = () => {
    const file = path.join(fixtures, "control-plane.mjs");
    writeFileSync(
      file,
      `import { createLocalMachineProvider } from ${JSON.stringify(path.resolve(import.meta.dirname, "provider.ts"))};
       const machines = createLocalMachineProvider({
         gatewayPath: ${JSON.stringify(path.resolve(import.meta.dirname, "../../../gateway/gateway.mjs"))},
         onOutput: () => {},
       });
       const config = ${JSON.stringify(configFor("inst-a", "key-1"))};
       const machine = await machines.create({ name: "orphan", config });
       await machines.waitForState(machine.id, "started", { timeoutMs: 10000 });
       console.log("PID " + machines.processOf(machine.id).pid);
       process.stdin.on("data", () => process.exit(0));
       setInterval(() => {}, 1000);`,
    );
    return file;
  };

  it.each(["exits", "is killed with SIGKILL"] as const)("its machines go too when it %s", async (how) => {
    const controlPlane = spawn(process.execPath, ["--import", "tsx", orphanScript()], {
      cwd: path.resolve(import.meta.dirname, "../../.."),
      stdio: ["pipe", "pipe", "inherit"],
    });
    try {
      let stdout = "";
      controlPlane.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      await until(() => /PID \d+/.test(stdout), 20_000);
      const pid = Number(/PID (\d+)/.exec(stdout)![1]);
      expect(alive(pid)).toBe(true);
      if (how === "exits") controlPlane.stdin.write("bye\n");
      else controlPlane.kill("SIGKILL");
      await until(() => !alive(pid), 5_000);
    } finally {
      controlPlane.kill("SIGKILL");
    }
  });
});

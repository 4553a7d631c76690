import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MachineError, type MachineConfig } from "../types";
import { createFlyMachineProvider, type FlyMachineProvider } from "./provider";
import { startFakeFly, type FakeFly } from "@/test/fly/fake-fly";

let fake: FakeFly;
let fly: FlyMachineProvider;

const REQUEST_TIMEOUT_MS = 500;

function configFor(key: string, instanceId = "inst-1"): MachineConfig {
  return {
    image: "registry.fly.io/fleetdeck-gateway:1",
    env: { KILOCODE_API_KEY: key, INSTANCE_ID: instanceId },
    metadata: { fleetdeck_instance_id: instanceId },
    guest: { cpuKind: "shared", cpus: 1, memoryMb: 256 },
  };
}

const caught = async (promise: Promise<unknown>): Promise<MachineError> => {
  const error = await promise.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(MachineError);
  return error as MachineError;
};

/** A started machine, with the request log cleared so each test sees only its own calls. */
async function startedMachine(name = "inst-1") {
  const machine = await fly.create({ name, config: configFor("key-1", name) });
  await fly.waitForState(machine.id, "started", { timeoutMs: 5_000 });
  fake.clearRequests();
  return machine;
}

beforeEach(async () => {
  fake = await startFakeFly({ transitionMs: 20 });
  fly = createFlyMachineProvider({
    token: fake.token,
    app: fake.app,
    apiHostname: fake.url,
    region: "ams",
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    retry: { baseDelayMs: 10, maxDelayMs: 40, maxRetryAfterMs: 5_000 },
  });
});

afterEach(async () => {
  // Every request the provider sent matched the spec.
  expect(fake.validationErrors).toEqual([]);
  await fake.close();
});

describe("fly provider against the fake: happy path", () => {
  it("creates, reads, lists, updates, stops, starts, waits and destroys", async () => {
    const created = await fly.create({ name: "inst-1", config: configFor("key-1") });
    expect(created).toMatchObject({ name: "inst-1", region: "ams", state: "starting" });
    expect(created.config).toEqual(configFor("key-1"));
    expect(created.createdAt).toBeInstanceOf(Date);
    const createBody = fake.requestsTo("Machines_create")[0]!.body as Record<string, unknown>;
    expect(createBody).toEqual({
      name: "inst-1",
      region: "ams",
      config: {
        image: "registry.fly.io/fleetdeck-gateway:1",
        env: { KILOCODE_API_KEY: "key-1", INSTANCE_ID: "inst-1" },
        metadata: { fleetdeck_instance_id: "inst-1" },
        guest: { cpu_kind: "shared", cpus: 1, memory_mb: 256 },
      },
    });

    await fly.waitForState(created.id, "started", { timeoutMs: 5_000, version: created.version });
    expect((await fly.get(created.id)).state).toBe("started");
    await fly.create({ name: "inst-2", config: configFor("key-2", "inst-2"), skipLaunch: true });
    expect((await fly.list({ metadata: { fleetdeck_instance_id: "inst-1" } })).map((m) => m.id)).toEqual([created.id]);
    expect(fake.requestsTo("Machines_list").at(-1)!.query).toEqual({ "metadata.fleetdeck_instance_id": ["inst-1"] });
    expect(await fly.list()).toHaveLength(2);

    const stored = await fly.update(created.id, { config: configFor("key-2"), skipLaunch: true, minSecretsVersion: 7 });
    expect(stored.version).not.toBe(created.version);
    expect(stored.state).toBe("started");
    expect(stored.config.env.KILOCODE_API_KEY).toBe("key-2");
    expect(fake.requestsTo("Machines_update").at(-1)!.body).toMatchObject({ skip_launch: true, min_secrets_version: 7 });

    const replaced = await fly.update(created.id, { config: configFor("key-3"), currentVersion: stored.version });
    expect(replaced.state).toBe("replacing");
    expect(fake.requestsTo("Machines_update").at(-1)!.body).toMatchObject({ current_version: stored.version });
    await fly.waitForState(created.id, "started", { timeoutMs: 5_000, version: replaced.version });
    const waitQuery = fake.requestsTo("Machines_wait").at(-1)!.query;
    expect(waitQuery).toMatchObject({ state: ["started", "failed"], version: [replaced.version], timeout: ["5"] });

    await fly.stop(created.id);
    await fly.waitForState(created.id, "stopped", { timeoutMs: 5_000 });
    await fly.start(created.id);
    await fly.waitForState(created.id, "started", { timeoutMs: 5_000 });

    expect(fly.gatewayUrl(created)).toBe(`http://${created.id}.vm.${fake.app}.internal:8080`);

    await fly.destroy(created.id, { force: true });
    expect(fake.requestsTo("Machines_delete").at(-1)!.query).toEqual({ force: ["true"] });
    await fly.waitForState(created.id, "destroyed", { timeoutMs: 5_000 });
    expect((await fly.get(created.id)).state).toBe("destroyed");
    expect((await fly.list()).map((m) => m.name)).toEqual(["inst-2"]);
  });

  it("caps each server-side wait at 60 s", async () => {
    const machine = await startedMachine();
    await fly.waitForState(machine.id, "started", { timeoutMs: 600_000 });
    expect(fake.requestsTo("Machines_wait")[0]!.query.timeout).toEqual(["60"]);
  });

  it("maps Fly's refusals to MachineError kinds", async () => {
    const machine = await startedMachine();
    expect((await caught(fly.get("0000000000dead"))).kind).toBe("not_found");
    expect(fake.requestsTo("Machines_show")).toHaveLength(1); // a 404 is an answer, not retried
    expect(await caught(fly.update(machine.id, { config: configFor("key-2"), currentVersion: "01STALE0000000000000000000" }))).toMatchObject({
      kind: "upstream",
      status: 409,
    });
    expect(fake.requestsTo("Machines_update")).toHaveLength(1);
    // Destroying a running machine without force is a precondition failure, not a capacity problem.
    expect(await caught(fly.destroy(machine.id))).toMatchObject({ kind: "upstream", status: 412 });
    await expect(fly.destroy("0000000000dead", { force: true })).resolves.toBeUndefined();

    const unauthorised = createFlyMachineProvider({ token: "wrong", app: fake.app, apiHostname: fake.url });
    expect(await caught(unauthorised.get(machine.id))).toMatchObject({ kind: "upstream", status: 401 });
  });
});

describe("fly provider against the fake: injected faults", () => {
  it("retries a GET on 500, 502, 503, 504, dropped connections and slow answers", async () => {
    const machine = await startedMachine();
    fake.inject("Machines_show", { type: "status", status: 500 });
    fake.inject("Machines_show", { type: "status", status: 502 });
    fake.inject("Machines_show", { type: "drop" });
    expect((await fly.get(machine.id)).id).toBe(machine.id);
    expect(fake.requestsTo("Machines_show").map((r) => r.outcome)).toEqual([500, 502, "dropped", 200]);

    fake.clearRequests();
    fake.inject("Machines_show", { type: "delay", ms: REQUEST_TIMEOUT_MS * 3 });
    fake.inject("Machines_show", { type: "status", status: 503 });
    fake.inject("Machines_show", { type: "status", status: 504 });
    expect((await fly.get(machine.id)).id).toBe(machine.id);
    expect(fake.requestsTo("Machines_show")).toHaveLength(4);
  });

  it("gives up on a GET after the retry budget, with the last failure's kind", async () => {
    const machine = await startedMachine();
    fake.inject("Machines_show", { type: "status", status: 503 }, 4);
    expect(await caught(fly.get(machine.id))).toMatchObject({ kind: "upstream", status: 503 });
    fake.inject("Machines_show", { type: "delay", ms: REQUEST_TIMEOUT_MS * 3 }, 4);
    expect((await caught(fly.get(machine.id))).kind).toBe("timeout");
  });

  it("does not repeat a POST that failed with 500", async () => {
    fake.inject("Machines_create", { type: "status", status: 500 });
    expect(await caught(fly.create({ name: "inst-1", config: configFor("key-1") }))).toMatchObject({ kind: "upstream", status: 500 });
    expect(fake.requestsTo("Machines_create")).toHaveLength(1);
    expect(await fly.list()).toEqual([]);
  });

  it("honours Retry-After on 429 and then succeeds", async () => {
    const machine = await startedMachine();
    await fly.stop(machine.id);
    await fly.waitForState(machine.id, "stopped", { timeoutMs: 5_000 });
    fake.clearRequests();
    fake.inject("Machines_start", { type: "rate_limit", retryAfterSeconds: 1 });
    const started = Date.now();
    await fly.start(machine.id);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(fake.requestsTo("Machines_start").map((r) => r.outcome)).toEqual([429, 200]);
    expect(fake.requestsTo("Machines_show")).toHaveLength(0); // a 429 was not processed: nothing to re-read
    await fly.waitForState(machine.id, "started", { timeoutMs: 5_000 });
  });

  it("fails rate_limited with retryAfterMs when Fly asks for a longer pause than the budget", async () => {
    const machine = await startedMachine();
    fake.inject("Machines_update", { type: "rate_limit", retryAfterSeconds: 120 });
    const error = await caught(fly.update(machine.id, { config: configFor("key-2") }));
    expect(error).toMatchObject({ kind: "rate_limited", status: 429, retryAfterMs: 120_000 });
    expect(fake.requestsTo("Machines_update")).toHaveLength(1);
    expect(fake.machine(machine.id)!.config.env).toMatchObject({ KILOCODE_API_KEY: "key-1" });
  });

  it("retries a POST answered 503 directly", async () => {
    const machine = await startedMachine();
    fake.inject("Machines_update", { type: "status", status: 503 });
    const updated = await fly.update(machine.id, { config: configFor("key-2"), skipLaunch: true });
    expect(updated.config.env.KILOCODE_API_KEY).toBe("key-2");
    expect(fake.requestsTo("Machines_update").map((r) => r.outcome)).toEqual([503, 200]);
  });

  it("after a 502 on update, re-reads and repeats the update guarded by the version it read", async () => {
    const machine = await startedMachine();
    fake.inject("Machines_update", { type: "status", status: 502 });
    const updated = await fly.update(machine.id, { config: configFor("key-2") });
    expect(fake.requests.map((r) => r.operationId)).toEqual(["Machines_update", "Machines_show", "Machines_update"]);
    expect(fake.requestsTo("Machines_update")[1]!.body).toMatchObject({ current_version: machine.version });
    expect(updated.version).toBe(fake.machine(machine.id)!.version);
  });

  it("keeps the caller's current_version on that repeat, so a machine another writer moved on refuses it", async () => {
    const machine = await startedMachine();
    // Our update is lost (502) and, before we re-read, another writer updates the machine.
    fake.inject("Machines_update", { type: "status", status: 502 });
    fake.inject("Machines_show", { type: "delay", ms: 100 });
    const ours = fly.update(machine.id, { config: configFor("key-2"), currentVersion: machine.version });
    await new Promise((resolve) => setTimeout(resolve, 30));
    const theirs = await createFlyMachineProvider({ token: fake.token, app: fake.app, apiHostname: fake.url }).update(machine.id, {
      config: configFor("key-3"),
      currentVersion: machine.version,
    });
    const refused = await caught(ours);
    expect(refused.status).toBe(409);
    expect(fake.requestsTo("Machines_update").slice(1).every((request) => (request.body as { current_version?: string }).current_version === machine.version)).toBe(true);
    expect(fake.machine(machine.id)).toMatchObject({ version: theirs.version, config: { env: { KILOCODE_API_KEY: "key-3" } } });
  });

  it("after an update applied but answered with a dropped connection, re-reads and does not repeat it", async () => {
    const machine = await startedMachine();
    fake.inject("Machines_update", { type: "drop_after_apply" });
    const updated = await fly.update(machine.id, { config: configFor("key-2") });
    expect(fake.requests.map((r) => [r.operationId, r.outcome])).toEqual([
      ["Machines_update", "dropped"],
      ["Machines_show", 200],
    ]);
    expect(updated.config.env.KILOCODE_API_KEY).toBe("key-2");
    expect(updated.version).toBe(fake.machine(machine.id)!.version);
  });

  it("after a slow update that was applied, re-reads on timeout and does not repeat it", async () => {
    const machine = await startedMachine();
    fake.inject("Machines_update", { type: "delay", ms: REQUEST_TIMEOUT_MS * 3, apply: "before" });
    const updated = await fly.update(machine.id, { config: configFor("key-2"), skipLaunch: true });
    expect(fake.requestsTo("Machines_update")).toHaveLength(1);
    expect(updated.config.env.KILOCODE_API_KEY).toBe("key-2");
  });

  it("after a create whose connection dropped before it was applied, re-reads and creates once", async () => {
    fake.inject("Machines_create", { type: "drop" });
    const created = await fly.create({ name: "inst-1", config: configFor("key-1") });
    expect(fake.requests.map((r) => [r.operationId, r.outcome])).toEqual([
      ["Machines_create", "dropped"],
      ["Machines_list", 200],
      ["Machines_create", 200],
    ]);
    expect((await fly.list()).map((m) => m.id)).toEqual([created.id]);
  });

  it("after a create applied but answered with a dropped connection, finds the machine instead of creating another", async () => {
    fake.inject("Machines_create", { type: "drop_after_apply" });
    const created = await fly.create({ name: "inst-1", config: configFor("key-1") });
    expect(fake.requestsTo("Machines_create")).toHaveLength(1);
    expect(fake.requestsTo("Machines_list")).toHaveLength(1);
    expect((await fly.list()).map((m) => m.id)).toEqual([created.id]);
  });

  it("reports the original failure when the re-read fails too", async () => {
    const machine = await startedMachine();
    fake.inject("Machines_start", { type: "drop" });
    fake.inject("Machines_show", { type: "status", status: 500 }, 4);
    const error = await caught(fly.start(machine.id));
    expect(error.kind).toBe("upstream");
    expect(error.message).toMatch(/connection failed.*re-reading state failed/);
    expect(fake.requestsTo("Machines_start")).toHaveLength(1);
  });

  it("repeats start/stop/destroy after an ambiguous failure only when the re-read shows they did not happen", async () => {
    const machine = await startedMachine();
    fake.inject("Machines_stop", { type: "drop_after_apply" });
    await fly.stop(machine.id);
    expect(fake.requestsTo("Machines_stop")).toHaveLength(1);
    await fly.waitForState(machine.id, "stopped", { timeoutMs: 5_000 });

    fake.inject("Machines_start", { type: "status", status: 504 });
    await fly.start(machine.id);
    expect(fake.requestsTo("Machines_start").map((r) => r.outcome)).toEqual([504, 200]);
    await fly.waitForState(machine.id, "started", { timeoutMs: 5_000 });

    fake.inject("Machines_delete", { type: "drop_after_apply" });
    await fly.destroy(machine.id, { force: true });
    expect(fake.requestsTo("Machines_delete")).toHaveLength(1);
    await fly.waitForState(machine.id, "destroyed", { timeoutMs: 5_000 });
  });

  it("maps insufficient capacity on create and start to capacity, without retrying", async () => {
    fake.inject("Machines_create", { type: "capacity" });
    expect(await caught(fly.create({ name: "inst-1", config: configFor("key-1") }))).toMatchObject({ kind: "capacity", status: 412 });
    expect(fake.requestsTo("Machines_create")).toHaveLength(1);

    const machine = await fly.create({ name: "inst-1", config: configFor("key-1"), skipLaunch: true });
    fake.inject("Machines_start", { type: "capacity" });
    expect((await caught(fly.start(machine.id))).kind).toBe("capacity");
  });

  it("loops over 408s from wait until the machine gets there", async () => {
    const machine = await startedMachine();
    fake.inject("Machines_wait", { type: "wait_timeout" }, 2);
    await fly.waitForState(machine.id, "started", { timeoutMs: 5_000 });
    expect(fake.requestsTo("Machines_wait").map((r) => r.outcome)).toEqual([408, 408, 200]);
  });

  it("times out a wait at the overall deadline, never asking the server to wait past it", async () => {
    const machine = await fly.create({ name: "inst-1", config: configFor("key-1"), skipLaunch: true });
    const started = Date.now();
    const error = await caught(fly.waitForState(machine.id, "started", { timeoutMs: 2_500 }));
    expect(error.kind).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(2_500 + 400);
    const timeouts = fake.requestsTo("Machines_wait").map((r) => Number(r.query.timeout![0]));
    expect(timeouts[0]).toBe(2);
    expect(timeouts.every((timeout) => timeout >= 1 && timeout <= 2)).toBe(true);
  });

  it("fails a wait for started as soon as the machine fails", async () => {
    const machine = await startedMachine();
    await fly.stop(machine.id);
    await fly.waitForState(machine.id, "stopped", { timeoutMs: 5_000 });
    const waiting = fly.waitForState(machine.id, "started", { timeoutMs: 30_000 });
    setTimeout(() => fake.setState(machine.id, "failed"), 100);
    const started = Date.now();
    const error = await caught(waiting);
    expect(error.kind).toBe("upstream");
    expect(error.message).toMatch(/failed/);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("refuses a wait on a version that has been superseded", async () => {
    const machine = await startedMachine();
    await fly.update(machine.id, { config: configFor("key-2"), skipLaunch: true });
    expect(await caught(fly.waitForState(machine.id, "started", { timeoutMs: 5_000, version: machine.version }))).toMatchObject({
      kind: "upstream",
      status: 400,
    });
  });
});

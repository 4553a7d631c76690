import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startFakeFly, type FakeFly } from "./fake-fly";

let fake: FakeFly;

const call = (path: string, init: RequestInit = {}, token = fake.token) =>
  fetch(`${fake.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...init.headers },
  });

const machines = () => `/v1/apps/${fake.app}/machines`;

beforeEach(async () => {
  fake = await startFakeFly({ transitionMs: 10 });
});

afterEach(async () => {
  await fake.close();
});

describe("fake Fly Machines API", () => {
  it("validates request bodies against the spec, rejecting unknown and mistyped fields", async () => {
    const misspelt = await call(machines(), { method: "POST", body: JSON.stringify({ name: "a", skipLaunch: true, config: { image: "x" } }) });
    expect(misspelt.status).toBe(400);
    expect(((await misspelt.json()) as { error: string }).error).toContain("skipLaunch");

    const mistyped = await call(machines(), { method: "POST", body: JSON.stringify({ name: "a", config: { image: "x", env: { A: 1 } } }) });
    expect(mistyped.status).toBe(400);

    const badGuest = await call(machines(), {
      method: "POST",
      body: JSON.stringify({ name: "a", config: { image: "x", guest: { cpus: "one" } } }),
    });
    expect(badGuest.status).toBe(400);
    expect(fake.validationErrors).toHaveLength(3);

    const ok = await call(machines(), { method: "POST", body: JSON.stringify({ name: "a", config: { image: "x", env: { A: "1" } } }) });
    expect(ok.status).toBe(200);
  });

  it("validates query parameters against the spec", async () => {
    const created = (await (await call(machines(), { method: "POST", body: JSON.stringify({ name: "a", config: { image: "x" } }) })).json()) as {
      id: string;
    };
    expect((await call(`${machines()}/${created.id}/wait?state=running`)).status).toBe(400);
    expect((await call(`${machines()}/${created.id}/wait?state=started&timeout=soon`)).status).toBe(400);
    expect((await call(`${machines()}/${created.id}/wait?state=started,failed&timeout=5`)).status).toBe(200);
  });

  it("requires the bearer token and the right app, and answers 501 for spec operations it does not implement", async () => {
    expect((await call(machines(), {}, "wrong")).status).toBe(401);
    expect((await call(`/v1/apps/another-app/machines`)).status).toBe(404);
    expect((await call(`/v1/apps/${fake.app}/volumes`)).status).toBe(501);
    expect((await call(`/v1/not-in-the-spec`)).status).toBe(404);
  });

  it("moves machines through Fly's states and holds wait requests until the state is reached", async () => {
    const created = (await (
      await call(machines(), { method: "POST", body: JSON.stringify({ name: "a", config: { image: "x" }, skip_launch: true }) })
    ).json()) as { id: string; state: string; version: string; instance_id: string };
    expect(created.state).toBe("created");
    expect(created.instance_id).toBe(created.version);
    const waiting = call(`${machines()}/${created.id}/wait?state=started&timeout=5`);
    await call(`${machines()}/${created.id}/start`, { method: "POST" });
    const reached = (await (await waiting).json()) as { ok: boolean; state: string };
    expect(reached).toMatchObject({ ok: true, state: "started" });

    const timedOut = await call(`${machines()}/${created.id}/wait?state=stopped&timeout=1`);
    expect(timedOut.status).toBe(408);
  });

  it("queues injected faults per operation and logs every request", async () => {
    fake.inject("Machines_list", { type: "status", status: 503 }, 2);
    fake.inject("Machines_list", { type: "rate_limit", retryAfterSeconds: 3 });
    expect((await call(machines())).status).toBe(503);
    expect((await call(machines())).status).toBe(503);
    const limited = await call(machines());
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("3");
    expect((await call(machines())).status).toBe(200);
    expect(fake.requestsTo("Machines_list").map((r) => [r.outcome, r.fault])).toEqual([
      [503, "status"],
      [503, "status"],
      [429, "rate_limit"],
      [200, undefined],
    ]);

    fake.inject("Machines_list", { type: "drop" });
    await expect(call(machines())).rejects.toThrow();
    expect(fake.requests.at(-1)!.outcome).toBe("dropped");
  });
});

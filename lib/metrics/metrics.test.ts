import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Actor } from "@/lib/audit/events";
import { AppError } from "@/lib/errors";
import { redeployInstance } from "@/lib/instances/redeploy";
import { refreshDueInstances } from "@/lib/instances/refresh";
import { startInstance } from "@/lib/instances/start";
import { createLifecycleHarness, type LifecycleHarness } from "@/test/instances/harness";
import { rotatePepper } from "@/lib/keys/rotate-pepper";
import { countWhoamiResults, getMetrics, recordSchedulerStart, timeSchedulerPass } from "./index";
import { scrapeMetrics } from "./scrape";
import { parseExposition, sampleValue } from "@/test/metrics/exposition";

/** The current value of a counter (or a histogram's count) with exactly these labels. */
async function valueOf(metric: { get(): Promise<{ values: { labels: object; value: number; metricName?: string }[] }> }, labels: Record<string, string>, suffix = "") {
  const { values } = await metric.get();
  const found = values.find(
    (value) => (!suffix || value.metricName?.endsWith(suffix)) && JSON.stringify(Object.entries(value.labels).sort()) === JSON.stringify(Object.entries(labels).sort()),
  );
  return found?.value ?? 0;
}

const user = (id: string): Actor => ({ type: "user", id });

describe("metrics recorded by the lifecycle (local machines, PGlite)", () => {
  let harness: LifecycleHarness;
  beforeAll(async () => {
    harness = await createLifecycleHarness("pglite");
  }, 60_000);
  afterAll(async () => {
    await harness?.close();
  });

  it("counts a fallback by why the mint failed, a refusal by its reason, mint outcomes and operations, and refreshes", async () => {
    const metrics = getMetrics();
    const owner = await harness.createUser();
    const row = await harness.provision(owner.id);
    const noMint = { ...harness.deps, timeouts: { ...harness.deps.timeouts, mintMs: 1 } };
    const before = {
      fallback: await valueOf(metrics.keyFallback, { reason: "mint_timeout" }),
      revoked: await valueOf(metrics.keyUnavailable, { reason: "revoked" }),
      timeouts: await valueOf(metrics.keyMintDuration, { outcome: "timeout" }, "_count"),
      starts: await valueOf(metrics.operationDuration, { operation: "start", outcome: "success" }, "_count"),
      failedRedeploys: await valueOf(metrics.operationDuration, { operation: "redeploy", outcome: "failure" }, "_count"),
      refreshes: await valueOf(metrics.keyRefresh, { outcome: "success" }),
    };

    await startInstance({ instanceId: row.id, actor: user(owner.id) }, harness.deps);
    // The mint times out; the stored key is alive, so the redeploy falls back to it.
    expect(await redeployInstance({ instanceId: row.id, actor: user(owner.id) }, noMint)).toMatchObject({ keySource: "fallback" });
    // Revoked: the mint times out again and the stored key may no longer be used.
    await rotatePepper({ userId: owner.id, actor: user(owner.id) }, { db: harness.database.db, cache: harness.deps.keyStateCache });
    const refused = await redeployInstance({ instanceId: row.id, actor: user(owner.id) }, noMint).catch((error: unknown) => error);
    expect((refused as AppError).code).toBe("key_unavailable");
    // The revoked key is due: a pass refreshes it.
    expect(await refreshDueInstances({}, harness.deps)).toMatchObject({ refreshed: 1, failed: 0 });

    expect(await valueOf(metrics.keyFallback, { reason: "mint_timeout" })).toBe(before.fallback + 1);
    expect(await valueOf(metrics.keyUnavailable, { reason: "revoked" })).toBe(before.revoked + 1);
    expect(await valueOf(metrics.keyMintDuration, { outcome: "timeout" }, "_count")).toBe(before.timeouts + 2);
    expect(await valueOf(metrics.operationDuration, { operation: "start", outcome: "success" }, "_count")).toBe(before.starts + 1);
    expect(await valueOf(metrics.operationDuration, { operation: "redeploy", outcome: "failure" }, "_count")).toBe(before.failedRedeploys + 1);
    expect(await valueOf(metrics.keyRefresh, { outcome: "success" })).toBe(before.refreshes + 1);
  }, 60_000);
});

describe("metrics recorders", () => {
  it("whoami results are counted by error code, ok on success, and the handler's answer passes through", async () => {
    const requests = getMetrics().whoamiRequests;
    const revoked = await valueOf(requests, { result: "token_revoked" });
    const ok = await valueOf(requests, { result: "ok" });
    const unknown = await valueOf(requests, { result: "internal_error" });
    const answer = new Response("{}");
    expect(await countWhoamiResults(async () => answer)()).toBe(answer);
    const thrown = new AppError("token_revoked", "revoked");
    await expect(countWhoamiResults(async () => Promise.reject(thrown))()).rejects.toBe(thrown);
    // Anything that is not one of our errors (a driver error with its own `code`) is internal_error, not a new label value.
    await expect(countWhoamiResults(async () => Promise.reject(Object.assign(new Error("x"), { code: "ECONNREFUSED" })))()).rejects.toThrow();
    expect(await valueOf(requests, { result: "ok" })).toBe(ok + 1);
    expect(await valueOf(requests, { result: "token_revoked" })).toBe(revoked + 1);
    expect(await valueOf(requests, { result: "internal_error" })).toBe(unknown + 1);
    expect(await valueOf(requests, { result: "ECONNREFUSED" })).toBe(0);
  });

  it("the scheduler's last pass is its start until a pass completes; a failed pass does not move it", async () => {
    const metrics = getMetrics();
    const start = new Date("2030-01-01T00:00:00Z");
    recordSchedulerStart(300, start);
    expect((await metrics.schedulerLastPass.get()).values[0]!.value).toBe(start.getTime() / 1000);
    expect((await metrics.schedulerInterval.get()).values[0]!.value).toBe(300);
    await expect(timeSchedulerPass(() => Promise.reject(new Error("database down")))).rejects.toThrow("database down");
    expect((await metrics.schedulerLastPass.get()).values[0]!.value).toBe(start.getTime() / 1000);
    expect(await valueOf(metrics.schedulerPassDuration, { outcome: "failure" }, "_count")).toBeGreaterThanOrEqual(1);
    await timeSchedulerPass(async () => "done");
    expect((await metrics.schedulerLastPass.get()).values[0]!.value).toBeGreaterThan(Date.now() / 1000 - 5);
  });

  it("a scrape without the fleet overview leaves the fleet gauges out and serves the rest", async () => {
    const { contentType, body } = await scrapeMetrics(() => Promise.reject(new Error("database down")));
    expect(contentType).toBe("text/plain; version=0.0.4; charset=utf-8");
    const samples = parseExposition(body);
    for (const name of ["fleetdeck_instances", "fleetdeck_instance_keys", "fleetdeck_key_expiry_earliest_timestamp_seconds", "fleetdeck_key_refresh_overdue"]) {
      expect(sampleValue(samples, name), name).toBeUndefined();
    }
    expect(sampleValue(samples, "process_start_time_seconds")).toBeGreaterThan(0);
    expect(body).toContain("# TYPE fleetdeck_instances gauge");
  });
});

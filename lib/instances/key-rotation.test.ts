/**
 * Every way a key can die, on real gateway processes: a NEXTAUTH_SECRET rotation re-keys the fleet
 * live, a pepper rotation re-keys the owner's running instances within seconds, a redeploy makes
 * the previous key useless on every replica, a rotation in the middle of a refresh leaves the
 * machine alone, and the fallback refuses every stored key the ring, the env or the clock proves dead.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { and, asc, eq, inArray } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "@/db/client";
import { instanceEvents, instances, users, type InstanceRow } from "@/db/schema";
import { realPostgresDrivers, testDrivers } from "@/test/db";
import { AppError } from "@/lib/errors";
import { authenticateInstanceKey } from "@/lib/keys/authenticate";
import { decryptApiKey, encryptApiKey } from "@/lib/keys/encryption";
import { keyIdOf } from "@/lib/keys/fingerprints";
import { databaseKeyStateSource, KeyStateCache } from "@/lib/keys/key-state-cache";
import { rotatePepper } from "@/lib/keys/rotate-pepper";
import { getGatewayHealth, type GatewayCredentialState } from "@/lib/machines/gateway-client";
import type { LocalMachineProvider } from "@/lib/machines/local/provider";
import { signingKeyIdOf } from "@/lib/tokens/key-ring";
import { signKiloToken } from "@/lib/tokens/kilo-token";
import { redeployInstance } from "./redeploy";
import { refreshDueInstances } from "./refresh";
import { startInstance } from "./start";
import { stopInstance } from "./stop";
import { createLifecycleHarness, withUsersLocked, HARNESS_SECRET, type LifecycleHarness } from "@/test/instances/harness";

const user = (id: string) => ({ type: "user" as const, id });

async function startInstances(harness: LifecycleHarness, count: number) {
  const owner = await harness.createUser();
  const rows: InstanceRow[] = [];
  for (let index = 0; index < count; index++) {
    const row = await harness.provision(owner.id);
    rows.push(await startInstance({ instanceId: row.id, actor: user(owner.id) }, harness.deps));
  }
  return { owner, rows };
}

async function rowsOf(harness: LifecycleHarness, ids: string[]) {
  return harness.database.db.select().from(instances).where(inArray(instances.id, ids)).orderBy(asc(instances.id));
}

/** Polls every gateway's /health until stopped, recording each distinct credential state it reports. */
function watchGateways(harness: LifecycleHarness, machineIds: string[]) {
  const seen = new Set<GatewayCredentialState>();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const reports = await Promise.all(machineIds.map((id) => getGatewayHealth(harness.machines.gatewayUrl({ id }))));
      for (const report of reports) seen.add(report.credential.state);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    seen,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs: number): Promise<{ value: T; elapsedMs: number }> {
  const started = performance.now();
  for (;;) {
    const value = await check();
    if (value !== undefined) return { value, elapsedMs: performance.now() - started };
    if (performance.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe.each(testDrivers())("key rotation on real gateways (%s)", (driver) => {
  let harness: LifecycleHarness;
  beforeAll(async () => {
    harness = await createLifecycleHarness(driver);
  });
  afterAll(async () => {
    await harness?.close();
  });

  it("a NEXTAUTH_SECRET rotation re-keys every running instance in one pass, live, with no gateway ever invalid", async () => {
    const { rows } = await startInstances(harness, 3);
    const machines = harness.machines as LocalMachineProvider;
    const pids = rows.map((row) => machines.processOf(row.machineId!)!.pid);
    const watch = watchGateways(
      harness,
      rows.map((row) => row.machineId!),
    );
    const newSecret = randomBytes(32).toString("hex");
    try {
      // The restart with the new secret, the old one kept as previous: old keys still verify.
      harness.deps.keyRing = { current: newSecret, previous: [HARNESS_SECRET] };
      await new Promise((resolve) => setTimeout(resolve, 3 * harness.deps.gatewayKeyCheckIntervalMs));

      const pass = await refreshDueInstances({}, harness.deps);
      expect(pass).toMatchObject({ refreshed: 3, failed: 0 });
      const after = await rowsOf(
        harness,
        rows.map((row) => row.id),
      );
      for (const row of after) {
        expect(row).toMatchObject({ deployedKeySigningKid: signingKeyIdOf(newSecret), keySigningKid: signingKeyIdOf(newSecret), deployedKeyId: row.keyId });
        const health = await getGatewayHealth(harness.machines.gatewayUrl({ id: row.machineId! }));
        expect(health.credential).toMatchObject({ state: "valid", keyId: row.keyId });
      }
      // Nothing is due any more: a second pass finds nothing.
      expect(await refreshDueInstances({}, harness.deps)).toMatchObject({ claimed: 0 });

      // The second restart, without the previous secret: every instance already runs a new key.
      harness.deps.keyRing = { current: newSecret, previous: [] };
      await new Promise((resolve) => setTimeout(resolve, 3 * harness.deps.gatewayKeyCheckIntervalMs));
      for (const row of after) expect((await getGatewayHealth(harness.machines.gatewayUrl({ id: row.machineId! }))).credential.state).toBe("valid");
    } finally {
      await watch.stop();
      harness.deps.keyRing = { current: HARNESS_SECRET, previous: [] };
    }
    expect([...watch.seen]).toEqual(["valid"]);
    expect(rows.map((row) => machines.processOf(row.machineId!)?.pid)).toEqual(pids);
    for (const row of rows) await stopInstance({ instanceId: row.id, actor: user(row.ownerId) }, harness.deps);
  });

  it("a pepper rotation re-keys the owner's five running instances live within seconds, the one in backoff included", async () => {
    const { owner, rows } = await startInstances(harness, 5);
    const ids = rows.map((row) => row.id);
    const machines = harness.machines as LocalMachineProvider;
    const pids = rows.map((row) => machines.processOf(row.machineId!)!.pid);
    // One instance's last refresh failed: it would wait an hour for its next attempt.
    await harness.database.db
      .update(instances)
      .set({ refreshAttempts: 5, nextRefreshAttemptAt: new Date(Date.now() + 3_600_000) })
      .where(eq(instances.id, ids[0]!));

    const rotatedAt = performance.now();
    const rotation = await rotatePepper({ userId: owner.id, actor: user(owner.id) }, { db: harness.deps.db, cache: harness.deps.keyStateCache });
    expect(rotation).toMatchObject({ revokedKeyCount: 5, runningInstanceCount: 5 });
    // What the rotation kicks (lib/scheduler/rekey.ts): a refresh pass over this owner's instances.
    const pass = await refreshDueInstances({ ownerId: owner.id, actor: user(owner.id) }, harness.deps);
    expect(pass).toMatchObject({ claimed: 5, refreshed: 5, failed: 0 });

    const { elapsedMs } = await eventually(async () => {
      const reports = await Promise.all(rows.map((row) => getGatewayHealth(harness.machines.gatewayUrl({ id: row.machineId! }))));
      const fresh = reports.every((report, index) => report.credential.state === "valid" && report.credential.keyId !== rows[index]!.keyId);
      return fresh ? reports : undefined;
    }, 10_000);
    expect(performance.now() - rotatedAt).toBeLessThan(10_000);
    expect(elapsedMs).toBeLessThan(10_000);
    expect(rows.map((row) => machines.processOf(row.machineId!)?.pid)).toEqual(pids);

    const after = await rowsOf(harness, ids);
    for (const row of after) expect(row).toMatchObject({ keyRevokedAt: null, deployedKeyId: row.keyId, refreshAttempts: 0, nextRefreshAttemptAt: null });
    const events = await harness.database.db
      .select()
      .from(instanceEvents)
      .where(and(inArray(instanceEvents.instanceId, ids), eq(instanceEvents.action, "refresh")));
    expect(events).toHaveLength(5);
    for (const event of events) expect(event).toMatchObject({ outcome: "success", actorType: "user", actorId: owner.id });
    for (const row of rows) await stopInstance({ instanceId: row.id, actor: user(owner.id) }, harness.deps);
  });

  it("a rotation committed between the refresh's mint and its machine write leaves the machine untouched and the instance due again", async () => {
    const { owner, rows } = await startInstances(harness, 1);
    const running = rows[0]!;
    const machines = harness.machines as LocalMachineProvider;
    const before = { pid: machines.processOf(running.machineId!)!.pid, version: (await machines.get(running.machineId!)).version };
    await harness.database.db.update(instances).set({ deployedKeyExpiresAt: new Date(Date.now() + 3_600_000) }).where(eq(instances.id, running.id));

    let rotations = 0;
    const deps = {
      ...harness.deps,
      hooks: {
        async afterKeyStored(instanceId: string) {
          if (instanceId !== running.id || rotations++ > 0) return;
          await rotatePepper({ userId: owner.id, actor: user(owner.id) }, { db: harness.deps.db, cache: harness.deps.keyStateCache });
        },
      },
    };
    const pass = await refreshDueInstances({ ownerId: owner.id }, deps);
    expect(pass.results).toEqual([{ instanceId: running.id, outcome: "failed", errorCode: "key_unavailable" }]);
    expect(await machines.get(running.machineId!)).toMatchObject({ state: "started", version: before.version });
    expect(machines.processOf(running.machineId!)?.pid).toBe(before.pid);
    const [row] = await rowsOf(harness, [running.id]);
    // Due again at once: the refresh's failure did not put it into backoff.
    expect(row).toMatchObject({ leaseToken: null, refreshAttempts: 0, nextRefreshAttemptAt: null, deployedKeyId: running.keyId });
    expect(row!.keyRevokedAt).not.toBeNull();
    const [failure] = await harness.database.db
      .select()
      .from(instanceEvents)
      .where(and(eq(instanceEvents.instanceId, running.id), eq(instanceEvents.action, "refresh")));
    expect(failure).toMatchObject({ outcome: "failure", errorCode: "key_unavailable", details: expect.objectContaining({ reason: "revoked_during_operation" }) });

    // The next pass gives it a key under the new pepper.
    expect(await refreshDueInstances({ ownerId: owner.id }, harness.deps)).toMatchObject({ refreshed: 1, failed: 0 });
    const [fixed] = await rowsOf(harness, [running.id]);
    expect((await getGatewayHealth(harness.machines.gatewayUrl({ id: running.machineId! }))).credential).toMatchObject({ state: "valid", keyId: fixed!.keyId });
    await stopInstance({ instanceId: running.id, actor: user(owner.id) }, harness.deps);
  });
});

describe.each(realPostgresDrivers())("current keys and the verifying fallback (%s)", (driver) => {
  let harness: LifecycleHarness;
  const previousSecret = randomBytes(32).toString("hex");
  beforeAll(async () => {
    harness = await createLifecycleHarness(driver, {
      overrides: {
        keyRing: { current: HARNESS_SECRET, previous: [previousSecret] },
        tokenEnv: "production",
        timeouts: { mintMs: 1_500, machineWaitMs: 20_000, credentialMs: 10_000, leaseMs: 120_000 },
      },
    });
  });
  afterAll(async () => {
    await harness?.close();
  });

  it("after a redeploy on one replica, the previous key is token_revoked on both within 1 s; the current key works", async () => {
    const { owner, rows } = await startInstances(harness, 1);
    const running = rows[0]!;
    // The key as it is in the old gateway's environment.
    const oldKey = decryptApiKey(running.encryptedKey!, { encryptionKey: harness.deps.encryptionKey, instanceId: running.id });
    const replicaB = await openDatabase({ url: harness.database.url, driver });
    const cacheB = new KeyStateCache(databaseKeyStateSource(replicaB.db));
    const unlistenB = await cacheB.listen(replicaB);
    try {
      const onA = { keyRing: harness.deps.keyRing!, cache: harness.deps.keyStateCache! };
      const onB = { keyRing: harness.deps.keyRing!, cache: cacheB };
      const outcome = (token: string, deps: typeof onA) =>
        authenticateInstanceKey(token, deps).then(
          () => "ok",
          (error: unknown) => (error instanceof AppError ? error.code : "error"),
        );
      expect([await outcome(oldKey, onA), await outcome(oldKey, onB)]).toEqual(["ok", "ok"]);

      const redeployed = await redeployInstance({ instanceId: running.id, actor: user(owner.id) }, harness.deps);
      const finished = performance.now();
      const newKey = decryptApiKey(redeployed.encryptedKey!, { encryptionKey: harness.deps.encryptionKey, instanceId: running.id });
      const { elapsedMs } = await eventually(
        async () => ((await outcome(oldKey, onA)) === "token_revoked" && (await outcome(oldKey, onB)) === "token_revoked" ? true : undefined),
        1_000,
      );
      expect(elapsedMs).toBeLessThan(1_000);
      expect(performance.now() - finished).toBeLessThan(1_000);
      expect([await outcome(newKey, onA), await outcome(newKey, onB)]).toEqual(["ok", "ok"]);
      const refused = await authenticateInstanceKey(oldKey, onB).catch((error: unknown) => error as AppError);
      expect(refused).toMatchObject({ code: "token_revoked", status: 401, message: expect.stringMatching(/superseded/) });
    } finally {
      await unlistenB();
      await replicaB.close();
    }
    await stopInstance({ instanceId: running.id, actor: user(owner.id) }, harness.deps);
  });

  const usersLocked = <T>(work: () => Promise<T>) => withUsersLocked(harness.database.url!, work);

  it("with minting unavailable, refuses every stored key proven dead without touching the machine, and accepts one under a previous secret", async () => {
    const { owner, rows } = await startInstances(harness, 1);
    const running = rows[0]!;
    const machines = harness.machines as LocalMachineProvider;
    const [{ pepper }] = (await harness.database.db.select({ pepper: users.apiTokenPepper }).from(users).where(eq(users.id, owner.id))) as [{ pepper: string }];
    const HOUR = 3600;

    /** Stores `token` as the instance's latest key, with a row that looks healthy (expiry 10 days ahead unless given). */
    async function store(token: string, rowExpiry?: Date) {
      const { exp, jti } = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as { exp: number; jti: string };
      await harness.database.db
        .update(instances)
        .set({
          encryptedKey: encryptApiKey(token, { encryptionKey: harness.deps.encryptionKey, instanceId: running.id }),
          keyId: keyIdOf(token),
          keyJti: jti,
          keyExpiresAt: rowExpiry ?? new Date(exp * 1000),
          keyRevokedAt: null,
        })
        .where(eq(instances.id, running.id));
    }
    const sign = (options: { secret?: string; env?: string; lifetime?: number; issuedAgo?: number }) =>
      signKiloToken({
        userId: owner.id,
        pepper,
        secret: options.secret ?? HARNESS_SECRET,
        env: options.env ?? "production",
        expiresInSeconds: options.lifetime ?? 10 * 24 * HOUR,
        extra: { instanceId: running.id, jti: randomUUID() },
        now: new Date(Date.now() - (options.issuedAgo ?? 0) * 1000),
      }).then((signed) => signed.token);

    const before = { pid: machines.processOf(running.machineId!)!.pid, version: (await machines.get(running.machineId!)).version };
    const cases: [string, string, Date | undefined][] = [
      ["signature_invalid", await sign({ secret: randomBytes(32).toString("hex") }), undefined],
      ["env_mismatch", await sign({ env: "staging" }), undefined],
      ["token_expired", await sign({ lifetime: 2 * HOUR, issuedAgo: 3 * HOUR }), new Date(Date.now() + 5 * 24 * 3_600_000)],
      ["expiring", await sign({ lifetime: HOUR, issuedAgo: 50 * 60 }), undefined],
    ];
    for (const [reason, token, rowExpiry] of cases) {
      await store(token, rowExpiry);
      const failure = await usersLocked(() =>
        redeployInstance({ instanceId: running.id, actor: user(owner.id) }, harness.deps).then(
          () => undefined,
          (error: unknown) => error,
        ),
      );
      expect(failure, reason).toMatchObject({ code: "key_unavailable", details: { reason } });
      expect(await machines.get(running.machineId!)).toMatchObject({ state: "started", version: before.version });
      expect(machines.processOf(running.machineId!)?.pid).toBe(before.pid);
    }

    // A valid key under a secret still in the ring is deployed.
    const underPrevious = await sign({ secret: previousSecret });
    await store(underPrevious);
    const fallback = await usersLocked(() => redeployInstance({ instanceId: running.id, actor: user(owner.id) }, harness.deps));
    expect(fallback).toMatchObject({ status: "running", keySource: "fallback", keyId: keyIdOf(underPrevious), deployedKeySigningKid: signingKeyIdOf(previousSecret) });
    expect((await getGatewayHealth(machines.gatewayUrl({ id: running.machineId! }))).credential).toMatchObject({ state: "valid", keyId: keyIdOf(underPrevious) });
    await stopInstance({ instanceId: running.id, actor: user(owner.id) }, harness.deps);
  });
});

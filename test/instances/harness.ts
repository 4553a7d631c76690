import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";
import type { DatabaseDriver } from "@/db/client";
import { createTestDatabase, type TestDatabase } from "@/test/db";
import { users, instances, type InstanceRow, type UserRow } from "@/db/schema";
import { isAppError } from "@/lib/errors";
import { authenticateInstanceKey } from "@/lib/keys/authenticate";
import { databaseKeyStateSource, KeyStateCache } from "@/lib/keys/key-state-cache";
import { createLocalMachineProvider, type LocalMachineProvider } from "@/lib/machines/local/provider";
import type { MachineProvider } from "@/lib/machines/types";
import { DEFAULT_TIMEOUTS, type LifecycleDeps } from "@/lib/instances/deps";

export const HARNESS_SECRET = randomBytes(32).toString("hex");

export interface LifecycleHarness {
  database: TestDatabase;
  deps: LifecycleDeps;
  machines: MachineProvider;
  /** The whoami endpoint the gateways call: the real authenticateInstanceKey over real HTTP. */
  whoamiUrl: string;
  createUser(email?: string): Promise<UserRow>;
  provision(ownerId: string): Promise<InstanceRow>;
  close(): Promise<void>;
}

/**
 * Real parts for lifecycle tests: a fresh migrated database on `driver`, a machine provider (the
 * local one with real gateway processes unless another is given), and a loopback whoami server
 * that verifies keys exactly as the app's route does, against the same database.
 */
export async function createLifecycleHarness(
  driver: DatabaseDriver,
  options: { machines?: MachineProvider; overrides?: Partial<LifecycleDeps>; serverUrl?: string } = {},
): Promise<LifecycleHarness> {
  const database = await createTestDatabase(driver, options.serverUrl ?? process.env.TEST_DATABASE_URL);
  const cache = new KeyStateCache(databaseKeyStateSource(database.db));
  const unlisten = await cache.listen(database);
  const server = http.createServer((request, response) => {
    const token = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? "")?.[1] ?? "";
    authenticateInstanceKey(token, { keyRing: deps.keyRing!, cache }).then(
      (identity) => {
        response.writeHead(200, { "content-type": "application/json" });
        response.end(JSON.stringify({ ...identity, expiresAt: identity.expiresAt.toISOString() }));
      },
      (error: unknown) => {
        const code = isAppError(error) ? error.code : "internal_error";
        response.writeHead(isAppError(error) ? error.status : 500, { "content-type": "application/json" });
        response.end(JSON.stringify({ error: { code, message: isAppError(error) ? error.message : "error" } }));
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const whoamiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/gateway/whoami`;

  const machines: MachineProvider =
    options.machines ?? (createLocalMachineProvider({ onOutput: () => {} }) as LocalMachineProvider);
  // The whoami server above reads deps.keyRing at each request, so a test can rotate the ring.
  const deps: LifecycleDeps = {
    db: database.db,
    machines,
    keyRing: { current: HARNESS_SECRET, previous: [] },
    encryptionKey: randomBytes(32),
    gatewayTokenSecret: randomBytes(32).toString("hex"),
    whoamiUrl,
    image: "registry.fly.io/fleetdeck-gateway:latest",
    defaultRegion: "local",
    fallbackMinRemainingMs: 60 * 60_000,
    refreshConcurrency: 8,
    keyStateCache: cache,
    now: () => new Date(),
    timeouts: { ...DEFAULT_TIMEOUTS, machineWaitMs: 20_000, credentialMs: 10_000 },
    reconcileIntervalMs: 0,
    gatewayKeyCheckIntervalMs: 300,
    ...options.overrides,
  };

  return {
    database,
    deps,
    machines,
    whoamiUrl,
    async createUser(email = `${randomBytes(6).toString("hex")}@example.com`) {
      const [user] = await database.db.insert(users).values({ email }).returning();
      return user!;
    },
    async provision(ownerId) {
      const [row] = await database.db
        .insert(instances)
        .values({ ownerId, name: "test gateway", provider: machines.name, region: "local", imageTag: "latest" })
        .returning();
      return row!;
    },
    async close() {
      await machines.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await unlisten();
      await database.close();
    },
  };
}

/**
 * Holds ACCESS EXCLUSIVE on `users` from another connection while `work` runs, so minting (which
 * reads the owner's pepper) is impossible: the fallback rule decides. Real PostgreSQL only (`url`).
 */
export async function withUsersLocked<T>(url: string, work: () => Promise<T>): Promise<T> {
  const locker = new pg.Client({ connectionString: url });
  await locker.connect();
  await locker.query("begin");
  await locker.query("lock table users in access exclusive mode");
  try {
    return await work();
  } finally {
    await locker.query("rollback");
    await locker.end();
  }
}

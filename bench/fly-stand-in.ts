/**
 * Fly machines run the real gateway; behind the Fly fake there is no machine, so this stands in for
 * its HTTP surface: `/health` reports the key the fake holds in the machine's config as valid, and
 * a key push (`POST /env/patch`) answers after `pushLatencyMs` as the gateway does once whoami
 * confirmed the key. Used by the benchmarks only.
 */
import { randomBytes, randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { keyIdOf } from "@/lib/keys/fingerprints";
import type { Database } from "@/db";
import { instances, type NewInstanceRow } from "@/db/schema";
import type { FakeFly } from "@/test/fly/fake-fly";
import type { MachineProvider } from "@/lib/machines/types";

export interface GatewayStandIn {
  url: string;
  /** Keys pushed so far, by machine id (the latest one each). */
  pushed: Map<string, string>;
  close(): Promise<void>;
}

export async function startGatewayStandIn(fake: FakeFly, options: { pushLatencyMs?: number } = {}): Promise<GatewayStandIn> {
  const pushed = new Map<string, string>();
  const credential = (key: string | undefined, instanceId: string | null) => {
    const now = new Date().toISOString();
    return { state: "valid", keyId: key ? keyIdOf(key) : null, expiresAt: now, checkedAt: now, instanceId };
  };
  const server = http.createServer((request, response) => {
    const [, machineId = "", action = ""] = /^\/m\/([^/]+)\/(health|env\/patch)$/.exec(request.url ?? "") ?? [];
    const env = (fake.machine(machineId)?.config.env ?? {}) as Record<string, string>;
    const reply = (status: number, body: unknown) => {
      response.writeHead(status, { "content-type": "application/json" });
      response.end(JSON.stringify(body));
    };
    if (action === "health") {
      const key = pushed.get(machineId) ?? env.KILOCODE_API_KEY;
      return reply(key ? 200 : 404, { status: "ok", credential: credential(key, env.INSTANCE_ID ?? null) });
    }
    if (action === "env/patch" && request.method === "POST") {
      let body = "";
      request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
      request.on("end", () => {
        const key = (JSON.parse(body) as { KILOCODE_API_KEY: string }).KILOCODE_API_KEY;
        setTimeout(() => {
          pushed.set(machineId, key);
          reply(200, { applied: true, credential: credential(key, env.INSTANCE_ID ?? null) });
        }, options.pushLatencyMs ?? 0);
      });
      return;
    }
    reply(404, { error: "not found" });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    pushed,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Seeds `count` running instances of `ownerId`, each with a machine created on the Fly fake and a
 * deployed key (its id only; `keyValues` adds what a benchmark needs, e.g. the signer). Prints how
 * long it took.
 */
export async function seedRunningFleet(input: {
  fly: MachineProvider;
  db: Database;
  ownerId: string;
  count: number;
  keyValues?: Partial<NewInstanceRow>;
}): Promise<void> {
  const started = performance.now();
  const rows: NewInstanceRow[] = [];
  for (let created = 0; created < input.count; created += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, input.count - created) }, async (_, index) => {
        const id = randomUUID();
        const machine = await input.fly.create({
          name: `bench-${created + index}`,
          region: "iad",
          config: { image: "registry.fly.io/fleetdeck-gateway:latest", env: { INSTANCE_ID: id }, metadata: { fleetdeck_instance_id: id } },
        });
        const keyId = keyIdOf(randomBytes(16).toString("hex"));
        return {
          id,
          ownerId: input.ownerId,
          name: `bench ${created + index}`,
          provider: "fly" as const,
          region: "iad",
          imageTag: "latest",
          status: "running" as const,
          machineId: machine.id,
          machineVersion: machine.version,
          keyId,
          deployedKeyId: keyId,
          ...input.keyValues,
        };
      }),
    );
    rows.push(...batch);
  }
  for (let start = 0; start < rows.length; start += 1000) await input.db.insert(instances).values(rows.slice(start, start + 1000));
  console.log(`  seeded ${input.count} instances and machines in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

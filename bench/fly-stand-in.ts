/**
 * Fly machines run the real gateway; behind the Fly fake there is no machine, so this stands in for
 * its HTTP surface: `/health` reports the key the fake holds in the machine's config as valid, and
 * a key push (`POST /env/patch`) answers after `pushLatencyMs` as the gateway does once whoami
 * confirmed the key. Used by the benchmarks only.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { keyIdOf } from "@/lib/keys/fingerprints";
import type { FakeFly } from "@/lib/machines/fly/testing/fake-fly";

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

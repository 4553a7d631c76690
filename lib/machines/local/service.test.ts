import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFlyMachineProvider, type FlyMachineProvider } from "../fly/provider";
import { flyResponseProblems, type FakeFlyOperation } from "@/test/fly/fake-fly";
import { pushKeyToGateway, waitForGatewayCredential } from "../gateway-client";
import { gatewayMachineConfig } from "../gateway-config";
import { gatewayTokenFor } from "../gateway-token";
import { createMachineProvider } from "../index";
import { startFakeWhoami, type FakeWhoami } from "@/test/machines/fake-whoami";
import { isMachineError, type MachineConfig, type MachineError } from "../types";
import { startMachineService, type MachineService } from "./service";

const TOKEN = "machine-service-test-token-0123456789";
const SECRET = "machine-service-test-secret-0123456789abcdef";

let whoami: FakeWhoami;
let service: MachineService;
let client: FlyMachineProvider;

function configFor(instanceId: string, key: string): MachineConfig {
  return gatewayMachineConfig({ instanceId, apiKey: key, image: "ignored-locally", whoamiUrl: whoami.url, gatewayTokenSecret: SECRET });
}

async function raw(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${service.url}/v1/apps/${service.app}/machines${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** The answer conforms to Fly's OpenAPI description of that operation. */
function expectOnSpec(operationId: FakeFlyOperation, answer: { status: number; body: unknown }) {
  expect(flyResponseProblems(operationId, answer.status, answer.body)).toEqual([]);
}

const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error as MachineError);

beforeAll(async () => {
  whoami = await startFakeWhoami();
  for (const n of [1, 2, 3]) whoami.setAnswer(`key-${n}`, { kind: "valid", keyId: `kid-${n}`, instanceId: "inst-a" });
  service = await startMachineService({ token: TOKEN, supervisor: { onOutput: () => {}, stopGraceMs: 2_000 } });
  client = createFlyMachineProvider({ token: TOKEN, app: service.app, apiHostname: service.url, region: "local", retry: { baseDelayMs: 10, maxDelayMs: 40 } });
});

afterAll(async () => {
  await service?.close();
  await whoami?.close();
});

describe("local machine service", () => {
  it("answers the Fly operations the client uses in Fly's wire shapes", async () => {
    const created = await raw("POST", "", { name: "spec-check", region: "local", config: { image: "x", env: {}, metadata: { fleetdeck_instance_id: "spec" } }, skip_launch: true });
    expect(created.status).toBe(200);
    expectOnSpec("Machines_create", created);
    const id = (created.body as { id: string; version: string }).id;
    expectOnSpec("Machines_show", await raw("GET", `/${id}`));
    const listed = await raw("GET", "?metadata.fleetdeck_instance_id=spec");
    expectOnSpec("Machines_list", listed);
    expect((listed.body as { id: string }[]).map((machine) => machine.id)).toEqual([id]);
    const updated = await raw("POST", `/${id}`, { config: { image: "y", env: {}, metadata: {} }, skip_launch: true, current_version: (created.body as { version: string }).version });
    expectOnSpec("Machines_update", updated);
    const stale = await raw("POST", `/${id}`, { config: { image: "z", env: {}, metadata: {} }, current_version: (created.body as { version: string }).version });
    expect(stale.status).toBe(409);
    expectOnSpec("Machines_update", stale);
    expectOnSpec("Machines_wait", await raw("GET", `/${id}/wait?state=stopped&timeout=1`));
    expect((await raw("POST", `/${id}/stop`, {})).status).toBe(200); // the spec documents no body for it
    expect((await raw("DELETE", `/${id}?force=true`)).status).toBe(200);
    expect((await raw("GET", `/${id}`)).status).toBe(404);
    const unauthorised = await fetch(`${service.url}/v1/apps/${service.app}/machines`, { headers: { authorization: "Bearer nope" } });
    expect(unauthorised.status).toBe(401);
  });

  it("runs real gateways driven by the Fly client, reachable through the service, with version-guarded updates", async () => {
    const machine = await client.create({ name: "inst-a", config: configFor("inst-a", "key-1") });
    await client.waitForState(machine.id, "started", { timeoutMs: 10_000, version: machine.version });
    const provider = createMachineProvider({ MACHINE_PROVIDER: "local", LOCAL_MACHINES_URL: service.url, LOCAL_MACHINES_TOKEN: TOKEN });
    expect(provider.name).toBe("local");
    const gatewayUrl = provider.gatewayUrl(machine);
    expect((await waitForGatewayCredential(gatewayUrl, { timeoutMs: 5_000 })).credential).toMatchObject({ state: "valid", keyId: "kid-1" });
    const firstPid = service.supervisor.processOf(machine.id)!.pid;

    // A writer that expects an older version is refused and changes nothing.
    const updated = await provider.update(machine.id, { config: configFor("inst-a", "key-2"), currentVersion: machine.version });
    const refused = await failure(provider.update(machine.id, { config: configFor("inst-a", "key-3"), currentVersion: machine.version }));
    expect(isMachineError(refused) && refused.status).toBe(409);
    await provider.waitForState(machine.id, "started", { timeoutMs: 10_000, version: updated.version });
    expect((await provider.get(machine.id)).version).toBe(updated.version);
    expect((await waitForGatewayCredential(gatewayUrl, { timeoutMs: 5_000 })).credential).toMatchObject({ state: "valid", keyId: "kid-2" });
    expect(service.supervisor.processOf(machine.id)!.pid).not.toBe(firstPid);

    // A live key push goes through the proxy to the gateway.
    const pushed = await pushKeyToGateway(gatewayUrl, gatewayTokenFor("inst-a", SECRET), "key-3");
    expect(pushed).toMatchObject({ applied: true, credential: { state: "valid", keyId: "kid-3" } });

    await provider.stop(machine.id);
    await provider.waitForState(machine.id, "stopped", { timeoutMs: 10_000 });
    expect(service.supervisor.processOf(machine.id)).toBeUndefined();
    await provider.destroy(machine.id, { force: true });
    const gone = await failure(provider.get(machine.id));
    expect(isMachineError(gone) && gone.kind).toBe("not_found");
    expect(service.requests.some((request) => request.operationId === "Machines_update" && request.outcome === 409)).toBe(true);
  });
});

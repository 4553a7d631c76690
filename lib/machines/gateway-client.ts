import { z } from "zod";
import { isMachineError, MachineError } from "./types";

/** What a gateway can say about its key (see gateway/gateway.mjs). */
export const gatewayCredentialStates = ["valid", "expired", "revoked", "invalid", "unreachable", "checking"] as const;

export type GatewayCredentialState = (typeof gatewayCredentialStates)[number];

const isoDate = z.iso.datetime({ offset: true }).transform((value) => new Date(value));

export const gatewayCredentialSchema = z.object({
  state: z.enum(gatewayCredentialStates),
  keyId: z.string().nullable(),
  expiresAt: isoDate.nullable(),
  checkedAt: isoDate.nullable(),
  instanceId: z.string().nullable(),
  /** Why the state is not `valid`; never contains key material. */
  message: z.string().nullable().optional(),
});

export type GatewayCredential = z.infer<typeof gatewayCredentialSchema>;

export const gatewayHealthSchema = z.object({ status: z.literal("ok"), credential: gatewayCredentialSchema });

export type GatewayHealth = z.infer<typeof gatewayHealthSchema>;

/** `credential` describes the key that was pushed: when `applied` is false the gateway kept its old key. */
export const keyPushResultSchema = z.object({ applied: z.boolean(), credential: gatewayCredentialSchema });

export type KeyPushResult = z.infer<typeof keyPushResultSchema>;

const DEFAULT_HEALTH_TIMEOUT_MS = 3_000;
// The gateway re-verifies a pushed key with whoami (5 s budget by default) before it answers.
const DEFAULT_PUSH_TIMEOUT_MS = 12_000;

function endpoint(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, "")}${path}`;
}

async function callGateway<T>(
  url: string,
  init: RequestInit,
  schema: z.ZodType<T>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  let response: Response;
  let body: unknown;
  try {
    response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs), redirect: "error" });
    body = await response.json().catch(() => undefined);
  } catch (error) {
    if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
      throw new MachineError("timeout", `${what}: gateway did not answer within ${timeoutMs} ms`, { cause: error });
    }
    throw new MachineError("upstream", `${what}: gateway unreachable`, { cause: error });
  }
  if (response.status !== 200) {
    const code = (body as { error?: { code?: unknown } } | undefined)?.error?.code;
    throw new MachineError(
      "upstream",
      `${what}: gateway answered ${response.status}${typeof code === "string" ? ` (${code})` : ""}`,
      { status: response.status },
    );
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    throw new MachineError("upstream", `${what}: gateway answered an unexpected body`, { cause: parsed.error });
  }
  return parsed.data;
}

/**
 * One `GET /health` on a gateway. Read-only, safe to repeat. Throws MachineError `timeout` (no answer
 * within `timeoutMs`) or `upstream` (unreachable, non-200, or a body that is not a gateway health).
 */
export function getGatewayHealth(gatewayUrl: string, options: { timeoutMs?: number } = {}): Promise<GatewayHealth> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS;
  return callGateway(
    endpoint(gatewayUrl, "/health"),
    { headers: { accept: "application/json" } },
    gatewayHealthSchema,
    timeoutMs,
    "gateway health",
  );
}

/**
 * Pushes a new key to a running gateway (`POST /env/patch`). The gateway verifies the key with whoami
 * before answering and swaps it in only when it is `valid`; otherwise it keeps the old key and answers
 * `applied: false` with the pushed key's state. Repeating a push with the same key is harmless.
 *
 * This changes only the live process: persist the key in the machine config first (update with
 * `skipLaunch`) so a restart does not bring the old key back. On a timeout the push may or may not have
 * been applied: read `/health` (its keyId) to find out.
 */
export function pushKeyToGateway(
  gatewayUrl: string,
  gatewayToken: string,
  key: string,
  options: { timeoutMs?: number } = {},
): Promise<KeyPushResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_PUSH_TIMEOUT_MS;
  return callGateway(
    endpoint(gatewayUrl, "/env/patch"),
    {
      method: "POST",
      headers: {
        authorization: `Bearer ${gatewayToken}`,
        "content-type": "application/json",
        accept: "application/json",
      },
      body: JSON.stringify({ KILOCODE_API_KEY: key }),
    },
    keyPushResultSchema,
    timeoutMs,
    "gateway key push",
  );
}

/**
 * Polls `/health` until the gateway answers with a settled credential (any state but `checking`) that
 * satisfies `until` (default: any settled state), retrying while the gateway is still booting or
 * unreachable. Returns that health; throws MachineError `timeout` (naming the last state seen) when
 * `timeoutMs` runs out. Read-only.
 */
export async function waitForGatewayCredential(
  gatewayUrl: string,
  options: { timeoutMs: number; intervalMs?: number; until?: (credential: GatewayCredential) => boolean },
): Promise<GatewayHealth> {
  const deadline = Date.now() + options.timeoutMs;
  const intervalMs = options.intervalMs ?? 200;
  let lastSeen = "no answer";
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw new MachineError("timeout", `gateway credential not settled within ${options.timeoutMs} ms (last: ${lastSeen})`);
    }
    try {
      const health = await getGatewayHealth(gatewayUrl, { timeoutMs: Math.min(DEFAULT_HEALTH_TIMEOUT_MS, remaining) });
      lastSeen = health.credential.state;
      if (health.credential.state !== "checking" && (options.until?.(health.credential) ?? true)) return health;
    } catch (error) {
      if (!isMachineError(error)) throw error;
      lastSeen = error.message;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
}

import http from "node:http";
import type { AddressInfo } from "node:net";

/** What the stand-in control plane answers for one key. */
export type WhoamiAnswer =
  | { kind: "valid"; keyId: string; instanceId: string; userId?: string; expiresAt?: Date }
  | { kind: "expired" }
  | { kind: "revoked" }
  | { kind: "invalid" };

/**
 * How the stand-in behaves as a whole: `up` answers per key, `down` resets every connection (the
 * gateway sees a network error), `error` answers 503, `hang` never answers.
 */
export type WhoamiMode = "up" | "down" | "error" | "hang";

export interface FakeWhoami {
  /** Full URL of the whoami endpoint, for FLEETDECK_WHOAMI_URL. */
  readonly url: string;
  /** How many whoami requests arrived (any mode). */
  readonly requestCount: number;
  /** How many whoami requests presented this key. */
  requestsFor(key: string): number;
  setAnswer(key: string, answer: WhoamiAnswer): void;
  /** `retryAfterSeconds`: the `error` mode's 503 carries this Retry-After (as a database outage does). */
  setMode(mode: WhoamiMode, options?: { retryAfterSeconds?: number }): void;
  close(): Promise<void>;
}

const THIRTY_DAYS_MS = 30 * 24 * 60 * 60 * 1000;

/**
 * A loopback stand-in for the control plane's `GET /api/gateway/whoami`, answering by bearer token,
 * so tests can drive a real gateway process through every credential state. Unknown keys answer
 * 401 `token_invalid`. Test-only.
 */
export async function startFakeWhoami(): Promise<FakeWhoami> {
  const answers = new Map<string, WhoamiAnswer>();
  const perKey = new Map<string, number>();
  let mode: WhoamiMode = "up";
  let retryAfterSeconds: number | undefined;
  let requestCount = 0;
  const hanging = new Set<http.ServerResponse>();

  const server = http.createServer((req, res) => {
    if (req.url?.split("?")[0] !== "/api/gateway/whoami") {
      res.writeHead(404).end();
      return;
    }
    requestCount += 1;
    const header = req.headers.authorization ?? "";
    const key = header.startsWith("Bearer ") ? header.slice(7) : "";
    perKey.set(key, (perKey.get(key) ?? 0) + 1);
    if (mode === "down") {
      req.socket.destroy();
      return;
    }
    if (mode === "hang") {
      hanging.add(res);
      return;
    }
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));
    };
    if (mode === "error") {
      return retryAfterSeconds === undefined
        ? json(503, { error: { code: "misconfigured", message: "unavailable" } })
        : json(503, { error: { code: "database_unavailable", message: "unavailable" } }, { "retry-after": String(retryAfterSeconds) });
    }
    const answer = answers.get(key) ?? { kind: "invalid" };
    switch (answer.kind) {
      case "valid":
        return json(200, {
          userId: answer.userId ?? "user-1",
          instanceId: answer.instanceId,
          keyId: answer.keyId,
          expiresAt: (answer.expiresAt ?? new Date(Date.now() + THIRTY_DAYS_MS)).toISOString(),
        });
      case "expired":
        return json(401, { error: { code: "token_expired", message: "token expired" } });
      case "revoked":
        return json(401, { error: { code: "token_revoked", message: "token revoked" } });
      case "invalid":
        return json(401, { error: { code: "token_invalid", message: "token invalid" } });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/api/gateway/whoami`,
    get requestCount() {
      return requestCount;
    },
    requestsFor: (key) => perKey.get(key) ?? 0,
    setAnswer: (key, answer) => void answers.set(key, answer),
    setMode: (next, options = {}) => {
      mode = next;
      retryAfterSeconds = options.retryAfterSeconds;
    },
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

import { randomBytes } from "node:crypto";

/** The part of node-postgres' Client (and Neon's, which mirrors it) that LISTEN needs. */
export interface ListenClient {
  connect(): Promise<unknown>;
  query(text: string): Promise<unknown>;
  end(): Promise<void>;
  on(event: "error", listener: (error: Error) => void): unknown;
  on(event: "end", listener: () => void): unknown;
  on(event: "notification", listener: (message: { channel: string; payload?: string }) => void): unknown;
}

export interface ListenEvents {
  /**
   * The subscription is proven live (first time, and again after every loss): a notification sent
   * by anyone now reaches `onPayload`. Anything cached before may be stale.
   */
  onLive?: () => void;
  /** Notifications may be missed from now until the next `onLive`. Called once per loss. */
  onLost?: () => void;
}

export interface ListenOptions {
  /** A fresh, unconnected client on a direct (unpooled) connection. */
  newClient: () => ListenClient;
  /** Sends a notification through the ordinary pool, as other replicas do. */
  notify: (channel: string, payload: string) => Promise<void>;
  /** How often the live subscription proves itself with a notification to itself. */
  heartbeatMs: number;
  /** How long that notification may take to come back before the subscription counts as dead. */
  heartbeatTimeoutMs: number;
  /** Reconnect delays: `minBackoffMs` doubling per failed attempt up to `maxBackoffMs`. */
  minBackoffMs: number;
  maxBackoffMs: number;
  onWarning?: (message: string, details: Record<string, unknown>) => void;
}

/**
 * One LISTEN subscription that survives any number of connection losses of any length, holding at
 * most one connection at any time.
 *
 * - Exactly one retry chain: a retry is scheduled only when the current client is dropped, each
 *   client can be dropped once, and a new retry is never scheduled while one is pending. (A client
 *   whose connect fails emits `end` as well as rejecting; treating both as triggers would start
 *   two chains per failed attempt.)
 * - Capped, jittered backoff between attempts; reset after a success.
 * - Live means proven: after LISTEN, and then every `heartbeatMs`, the listener notifies a private
 *   channel on the same connection through the ordinary pool and waits for it to come back. A
 *   connection that stops receiving (a blackholed network, or a pooled `-pooler` endpoint that
 *   accepts LISTEN but never delivers) is dropped and replaced; until the proof arrives the
 *   subscriber is told it is not live.
 */
export class ResilientListener {
  readonly #channel: string;
  readonly #heartbeatChannel: string;
  readonly #onPayload: (payload: string) => void;
  readonly #events: ListenEvents;
  readonly #options: ListenOptions;
  #client: ListenClient | undefined;
  #live = false;
  #closed = false;
  #failures = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #pendingProof: { nonce: string; resolve: (arrived: boolean) => void } | undefined;
  #firstSettled: (() => void) | undefined;

  constructor(channel: string, onPayload: (payload: string) => void, events: ListenEvents, options: ListenOptions) {
    this.#channel = channel;
    // Private to this subscription, so other replicas never see (or act on) the proofs.
    this.#heartbeatChannel = `${channel.slice(0, 40)}_alive_${randomBytes(6).toString("hex")}`;
    this.#onPayload = onPayload;
    this.#events = events;
    this.#options = options;
  }

  get live(): boolean {
    return this.#live;
  }

  /** Starts listening; resolves once the first attempt has either gone live or failed (it then keeps retrying). */
  start(): Promise<void> {
    const settled = new Promise<void>((resolve) => (this.#firstSettled = resolve));
    void this.#attempt();
    return settled;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#heartbeatTimer);
    this.#pendingProof?.resolve(false);
    const client = this.#client;
    this.#client = undefined;
    this.#live = false;
    this.#settleFirst();
    await client?.end().catch(() => {});
  }

  async #attempt(): Promise<void> {
    if (this.#closed) return;
    const client = this.#options.newClient();
    this.#client = client;
    let dropped = false;
    const drop = () => {
      if (dropped) return;
      dropped = true;
      this.#dropped(client);
    };
    client.on("error", drop);
    client.on("end", drop);
    client.on("notification", (message) => {
      if (message.channel === this.#heartbeatChannel) {
        const proof = this.#pendingProof;
        if (proof && proof.nonce === message.payload) proof.resolve(true);
      } else if (message.channel === this.#channel) {
        this.#onPayload(message.payload ?? "");
      }
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${quoteIdentifier(this.#channel)}`);
      await client.query(`LISTEN ${quoteIdentifier(this.#heartbeatChannel)}`);
    } catch {
      drop();
      return;
    }
    if (dropped || this.#closed) return;
    if (!(await this.#prove())) {
      if (!dropped && !this.#closed) {
        this.#options.onWarning?.("the LISTEN connection did not receive its own notification; reconnecting", {
          channel: this.#channel,
          hint: "LISTEN needs a direct connection: set DATABASE_URL_UNPOOLED (a -pooler host is derived automatically)",
        });
      }
      drop();
      return;
    }
    if (dropped || this.#closed) return;
    this.#failures = 0;
    this.#live = true;
    this.#events.onLive?.();
    this.#settleFirst();
    this.#scheduleHeartbeat(client);
  }

  /** Sends a notification to ourselves through the pool; true once it came back on our connection. */
  async #prove(): Promise<boolean> {
    const nonce = randomBytes(8).toString("hex");
    const arrived = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), this.#options.heartbeatTimeoutMs);
      timer.unref();
      this.#pendingProof = {
        nonce,
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
      };
    });
    try {
      await this.#options.notify(this.#heartbeatChannel, nonce);
    } catch {
      // The pool cannot reach the database either; the proof simply does not arrive.
    }
    const result = await arrived;
    this.#pendingProof = undefined;
    return result;
  }

  #scheduleHeartbeat(client: ListenClient): void {
    clearTimeout(this.#heartbeatTimer);
    this.#heartbeatTimer = setTimeout(async () => {
      if (this.#client !== client || this.#closed) return;
      if (await this.#prove()) {
        if (this.#client === client) this.#scheduleHeartbeat(client);
        return;
      }
      if (this.#client !== client || this.#closed) return;
      this.#options.onWarning?.("the LISTEN subscription stopped receiving notifications; reconnecting", { channel: this.#channel });
      this.#dropped(client);
    }, this.#options.heartbeatMs);
    this.#heartbeatTimer.unref();
  }

  /** The one place a retry is scheduled from. */
  #dropped(client: ListenClient): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    clearTimeout(this.#heartbeatTimer);
    this.#pendingProof?.resolve(false);
    void client.end().catch(() => {});
    if (this.#live) {
      this.#live = false;
      this.#events.onLost?.();
    }
    this.#settleFirst();
    if (this.#closed || this.#retryTimer) return;
    const ceiling = Math.min(this.#options.maxBackoffMs, this.#options.minBackoffMs * 2 ** this.#failures);
    this.#failures += 1;
    // Jitter keeps a fleet of replicas from reconnecting in lockstep after an outage.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#attempt();
    }, delay);
    this.#retryTimer.unref();
  }

  #settleFirst(): void {
    this.#firstSettled?.();
    this.#firstSettled = undefined;
  }
}

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

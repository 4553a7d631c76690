import http from "node:http";

/**
 * The header that carries the TCP peer address of each request to the app. Next gives route
 * handlers no socket, and it only fills `X-Forwarded-For` with the peer address when the client
 * sent none, so a client could otherwise pose as any address. This header is overwritten on every
 * request as it arrives, so whatever a client sends under this name is discarded.
 */
export const PEER_ADDRESS_HEADER = "x-fleetdeck-peer-address";

const INSTALLED = Symbol.for("fleetdeck.peerAddressInstalled");

/**
 * Stamps PEER_ADDRESS_HEADER onto every incoming request of every HTTP server in this process
 * (called once from instrumentation.ts, before Next serves anything). Safe to call twice.
 */
export function installPeerAddressHeader(): void {
  const proto = http.Server.prototype as http.Server & { [INSTALLED]?: boolean };
  if (proto[INSTALLED]) return;
  proto[INSTALLED] = true;
  const emit = proto.emit as (this: http.Server, event: string | symbol, ...args: unknown[]) => boolean;
  proto.emit = function (this: http.Server, event: string | symbol, ...args: unknown[]) {
    if (event === "request") {
      const request = args[0] as http.IncomingMessage;
      request.headers[PEER_ADDRESS_HEADER] = request.socket?.remoteAddress ?? "";
    }
    return emit.call(this, event, ...args);
  } as typeof proto.emit;
}

type RequestHeaders = Record<string, string | string[] | undefined> | Headers | undefined;

function header(headers: RequestHeaders, name: string): string | undefined {
  if (!headers) return undefined;
  const value = headers instanceof Headers ? headers.get(name) : headers[name];
  return (Array.isArray(value) ? value.join(",") : value) ?? undefined;
}

/**
 * The client's address, given how many proxies in front of the app append to X-Forwarded-For
 * (`TRUSTED_PROXY_HOPS`): 0 → the TCP peer itself; 1 → the entry the one proxy appended (Fly's
 * edge, a load balancer); n → the n-th entry from the right. Entries further left were written by
 * the client and are never trusted. Undefined when the chain is shorter than promised.
 */
export function clientAddress(headers: RequestHeaders, trustedHops: number): string | undefined {
  const peer = header(headers, PEER_ADDRESS_HEADER)?.trim();
  const forwarded = (header(headers, "x-forwarded-for") ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
  // Without the stamped peer (a process where instrumentation did not run), Next's own
  // X-Forwarded-For fill-in is the best there is: it is the peer whenever the client sent none.
  const index = peer ? forwarded.length - trustedHops : forwarded.length - Math.max(trustedHops, 1);
  const chain = peer ? [...forwarded, peer] : forwarded;
  return index >= 0 && index < chain.length ? chain[index]!.replace(/^::ffff:/, "") : undefined;
}

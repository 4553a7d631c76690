import { readFileSync } from "node:fs";
import net from "node:net";

// Below this, ports are left to well-known services.
const LOWEST = 10_000;
const ATTEMPTS = 20;

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, for a listener another process starts next
 * (a `next start`, a throwaway PostgreSQL), possibly again later on the same port (a restart).
 *
 * Picked below the kernel's ephemeral range when there is room: the kernel gives ports from that
 * range to outgoing connections, and with a few hundred gateways calling out, one of them taking
 * the port between this probe and the listener's bind, or while the listener restarts, is a start
 * that fails with EADDRINUSE. Only another caller of this function can race for it then.
 */
export async function freeLoopbackPort(): Promise<number> {
  const ephemeralLow = ephemeralRangeStart();
  for (let attempt = 0; attempt < ATTEMPTS && ephemeralLow - LOWEST >= 1_000; attempt += 1) {
    const candidate = LOWEST + Math.floor(Math.random() * (ephemeralLow - LOWEST));
    const port = await listenAndClose(candidate);
    if (port !== undefined) return port;
  }
  const port = await listenAndClose(0);
  if (port === undefined) throw new Error("no free loopback port");
  return port;
}

/** The first port of the kernel's ephemeral range (Linux's default when it cannot be read). */
function ephemeralRangeStart(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 0) return low;
  } catch {
    // Not Linux: macOS and Windows start theirs at 49152, above Linux's default.
  }
  return 32_768;
}

/** The port `port` bound as (0: one the OS picks), or undefined when it is taken. */
function listenAndClose(port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    // A connection that lands on the port meanwhile (someone still calling its last owner) would
    // hold `close` open for ever: drop it.
    const server = net.createServer((socket) => socket.destroy());
    server.unref();
    server.once("error", (error: NodeJS.ErrnoException) =>
      error.code === "EADDRINUSE" || error.code === "EACCES" ? resolve(undefined) : reject(error),
    );
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(address && typeof address === "object" ? address.port : undefined));
    });
  });
}

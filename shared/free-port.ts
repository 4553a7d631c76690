import net from "node:net";

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it). Whoever binds it next may
 * race another process for it; callers that spawn a listener on it retry on EADDRINUSE.
 */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    // A connection that lands on the port meanwhile (someone still calling its last owner) would
    // hold `close` open for ever: drop it.
    const server = net.createServer((socket) => socket.destroy());
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (address && typeof address === "object" ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

import net from "node:net";
import { WebSocketServer, type RawData } from "ws";

export interface NeonBridge {
  /** Pass as `neonWsProxy`: tells the Neon driver to dial this bridge for host:port. */
  wsProxy: (host: string, port: number | string) => string;
  close(): Promise<void>;
}

/**
 * A loopback WebSocket→TCP bridge, the piece Neon runs in front of Postgres, so the Neon
 * driver path can be tested against a local PostgreSQL server.
 */
export async function startNeonBridge(): Promise<NeonBridge> {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  const { port } = server.address() as net.AddressInfo;

  server.on("connection", (socket, request) => {
    const address = new URL(request.url ?? "/", "http://bridge").searchParams.get("address") ?? "";
    const [host, targetPort] = address.split(":");
    const tcp = net.connect({ host: host ?? "127.0.0.1", port: Number(targetPort) });
    const pending: Buffer[] = [];
    tcp.on("connect", () => {
      for (const chunk of pending.splice(0)) tcp.write(chunk);
    });
    socket.on("message", (data: RawData) => {
      const chunk = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (tcp.connecting) pending.push(chunk);
      else tcp.write(chunk);
    });
    tcp.on("data", (chunk) => socket.send(chunk));
    tcp.on("close", () => socket.close());
    tcp.on("error", () => socket.close());
    socket.on("close", () => tcp.destroy());
    socket.on("error", () => tcp.destroy());
  });

  return {
    wsProxy: (host, targetPort) => `127.0.0.1:${port}/?address=${host}:${targetPort}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
}

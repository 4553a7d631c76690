/**
 * `npm run machines -- --port P [--state-file F]`: the host's local machine service in the
 * foreground on 127.0.0.1:P (lib/machines/local/service.ts). Every replica on this host given
 * `LOCAL_MACHINES_URL=http://127.0.0.1:P` and the same `LOCAL_MACHINES_TOKEN` shares its machines,
 * which keep running when replicas stop. SIGINT/SIGTERM stop the service and its machines.
 *
 * `--state-file` records `{pid, url, tokenFingerprint}` once listening (how `npm run dev` finds a
 * running one again, and tells whether it still has the token in .env.local).
 */
import { createHash } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { startMachineService } from "@/lib/machines/local/service";
import { loadLocalEnv } from "./load-env";

async function main() {
  const { values } = parseArgs({ options: { port: { type: "string", default: "0" }, "state-file": { type: "string" } } });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error("Usage: npm run machines -- --port P [--state-file F]");
  loadLocalEnv();
  const token = process.env.LOCAL_MACHINES_TOKEN?.trim();
  if (!token) throw new Error("LOCAL_MACHINES_TOKEN is not set (`npm run dev` writes one to .env.local; replicas need the same value).");

  const service = await startMachineService({ token, port });
  const stateFile = values["state-file"];
  if (stateFile) {
    mkdirSync(path.dirname(stateFile), { recursive: true });
    const tokenFingerprint = createHash("sha256").update(token).digest("hex").slice(0, 16);
    writeFileSync(stateFile, `${JSON.stringify({ pid: process.pid, url: service.url, tokenFingerprint })}\n`);
  }
  console.log(`Local machine service on ${service.url} (pid ${process.pid}).`);

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    if (stateFile) rmSync(stateFile, { force: true });
    void service.close().then(() => process.exit(0));
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

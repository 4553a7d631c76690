/** The production server the admin benchmark measures (`next start`), and signing in to it. */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import net from "node:net";
import path from "node:path";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

export function startServer(databaseUrl: string, port: number, nextAuthSecret: string): ChildProcess {
  const base = `http://127.0.0.1:${port}`;
  const secret = () => randomBytes(32).toString("hex");
  // Next loads .env files for every variable not already set, so each one is set explicitly.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NEXT_DIST_DIR: process.env.NEXT_DIST_DIR,
    NODE_ENV: "production",
    NEXT_TELEMETRY_DISABLED: "1",
    NEXTAUTH_URL: base,
    GATEWAY_CALLBACK_URL: base,
    DATABASE_URL: databaseUrl,
    DATABASE_DRIVER: "postgres",
    PGLITE_DIR: "",
    NEXTAUTH_SECRET: nextAuthSecret,
    INTERNAL_API_SECRET: secret(),
    CRON_SECRET: secret(),
    KEY_ENCRYPTION_KEY: secret(),
    GATEWAY_TOKEN_SECRET: secret(),
    KILO_TOKEN_ENV: "",
    FLY_API_TOKEN: "",
    FLY_APP_NAME: "",
    GITHUB_ID: "",
    GITHUB_SECRET: "",
    MACHINE_PROVIDER: "local",
    SCHEDULER_INTERVAL_SECONDS: "0",
    FLEETDECK_LOG_LEVEL: "warn",
  };
  // Its own process group, so stopping it cannot leave a next-server child behind.
  return spawn(path.join(process.cwd(), "node_modules/.bin/next"), ["start", "-H", "127.0.0.1", "-p", String(port)], {
    env,
    detached: true,
    stdio: ["ignore", "ignore", "inherit"],
  });
}

export async function waitForServer(base: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`next start exited with code ${child.exitCode}`);
    try {
      if ((await fetch(`${base}/api/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error("next start was not ready within 60 s");
}

export async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  process.kill(-child.pid, "SIGTERM");
  const timer = setTimeout(() => child.pid && process.kill(-child.pid, "SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

/** next-auth's credentials flow without a browser; returns the Cookie header. */
export async function signIn(base: string, email: string, password: string): Promise<string> {
  const jar = new Map<string, string>();
  const keep = (response: Response) => {
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(";");
      const at = pair!.indexOf("=");
      jar.set(pair!.slice(0, at), pair!.slice(at + 1));
    }
  };
  const csrf = await fetch(`${base}/api/auth/csrf`);
  keep(csrf);
  const { csrfToken } = (await csrf.json()) as { csrfToken: string };
  const cookie = () => [...jar].map(([name, value]) => `${name}=${value}`).join("; ");
  const response = await fetch(`${base}/api/auth/callback/credentials`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: cookie() },
    body: new URLSearchParams({ csrfToken, email, password, json: "true" }),
    redirect: "manual",
  });
  keep(response);
  if (![...jar.keys()].some((name) => name.endsWith("next-auth.session-token"))) throw new Error(`sign-in failed (${response.status})`);
  return cookie();
}

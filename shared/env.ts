import "server-only";
import { z } from "zod";

const optionalString = z
  .string()
  .trim()
  .transform((value) => (value === "" ? undefined : value))
  .optional();

/** `a, b,c` → ["a", "b", "c"] (lower-cased); unset or empty → []. */
const commaList = z
  .string()
  .optional()
  .transform((value) => (value ?? "").split(",").map((item) => item.trim().toLowerCase()).filter(Boolean));

const secret = (name: string) =>
  optionalString.refine((value) => value === undefined || value.length >= 32, {
    message: `${name} must be at least 32 characters (generate one with \`openssl rand -hex 32\`)`,
  });

/** 32 bytes for AES-256-GCM, given as 64 hex characters or base64. */
const encryptionKey = optionalString.refine(
  (value) => value === undefined || decodeEncryptionKey(value) !== undefined,
  { message: "KEY_ENCRYPTION_KEY must be 32 bytes: 64 hex characters or base64 (`openssl rand -hex 32`)" },
);

export function decodeEncryptionKey(value: string): Buffer | undefined {
  if (/^[0-9a-f]{64}$/i.test(value)) return Buffer.from(value, "hex");
  const decoded = Buffer.from(value, "base64");
  return decoded.length === 32 ? decoded : undefined;
}

export const envSchema = z
  .object({
    NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
    NEXTAUTH_SECRET: secret("NEXTAUTH_SECRET"),
    /** Verify-only secrets (comma-separated): the one being retired, or the incoming one mid-rollout. */
    NEXTAUTH_SECRET_PREVIOUS: z
      .string()
      .optional()
      .transform((value) => (value ?? "").split(",").map((part) => part.trim()).filter(Boolean))
      .refine((secrets) => secrets.every((value) => value.length >= 32), {
        message: "NEXTAUTH_SECRET_PREVIOUS must list secrets of at least 32 characters each, separated by commas",
      }),
    NEXTAUTH_URL: z.url({ message: "NEXTAUTH_URL must be an absolute URL such as http://localhost:3000" }).optional(),
    DATABASE_URL: optionalString.refine(
      (value) => value === undefined || /^postgres(ql)?:\/\//.test(value),
      { message: "DATABASE_URL must start with postgres:// or postgresql:// (leave it unset for embedded PGlite)" },
    ),
    /** Direct connection for LISTEN (Neon/Vercel convention); derived from a `-pooler` DATABASE_URL when unset. */
    DATABASE_URL_UNPOOLED: optionalString.refine((value) => value === undefined || /^postgres(ql)?:\/\//.test(value), {
      message: "DATABASE_URL_UNPOOLED must start with postgres:// or postgresql://",
    }),
    DATABASE_DRIVER: z.enum(["pglite", "postgres", "neon"]).optional(),
    PGLITE_DIR: optionalString,
    INTERNAL_API_SECRET: secret("INTERNAL_API_SECRET"),
    CRON_SECRET: secret("CRON_SECRET"),
    /** Bearer token for GET /api/metrics; unset, the route answers 404. */
    METRICS_TOKEN: secret("METRICS_TOKEN"),
    KEY_ENCRYPTION_KEY: encryptionKey,
    GATEWAY_TOKEN_SECRET: secret("GATEWAY_TOKEN_SECRET"),
    KILO_TOKEN_ENV: optionalString,
    MACHINE_PROVIDER: z.enum(["local", "fly"]).default("local"),
    /** The host's local machine service (`npm run machines`), shared by every replica; unset → in-process machines. */
    LOCAL_MACHINES_URL: z.url().optional(),
    LOCAL_MACHINES_TOKEN: optionalString.refine((value) => value === undefined || value.length >= 16, {
      message: "LOCAL_MACHINES_TOKEN must be at least 16 characters",
    }),
    /** Operation lease time-to-live (default DEFAULT_LEASE_TTL_MS): how soon a dead replica's operation is taken over. */
    OPERATION_LEASE_SECONDS: z.coerce.number().int().min(3).max(600).optional(),
    FLY_API_TOKEN: optionalString,
    FLY_API_HOSTNAME: z.url().default("https://api.machines.dev"),
    FLY_APP_NAME: optionalString,
    FLY_REGION: z.string().default("iad"),
    GATEWAY_IMAGE: z.string().default("registry.fly.io/fleetdeck-gateway:latest"),
    /** Where instances reach the control plane; defaults to NEXTAUTH_URL. */
    GATEWAY_CALLBACK_URL: z.url().optional(),
    PROACTIVE_REFRESH_THRESHOLD_HOURS: z.coerce
      .number()
      .positive()
      .lt(720, { message: "PROACTIVE_REFRESH_THRESHOLD_HOURS must be below 720 (the 30-day key lifetime)" })
      .default(240),
    /** Refreshes one scheduler pass runs at once (each is a machine update and a key push). */
    REFRESH_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(32),
    /** The stored key is a fallback only with at least this much life left. */
    FALLBACK_MIN_REMAINING_MINUTES: z.coerce.number().int().min(1).max(7 * 24 * 60).default(60),
    /** In-process key refresh and reconcile passes; 0 disables them (use the cron route instead). */
    SCHEDULER_INTERVAL_SECONDS: z.coerce.number().int().min(0).max(86_400).default(300),
    /** Fleet job items one replica runs at once; FLEET_JOB_POLL_SECONDS: how often it looks for work (0: only when a job starts here). */
    FLEET_JOB_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(8),
    FLEET_JOB_POLL_SECONDS: z.coerce.number().int().min(0).max(3_600).default(5),
    /** A fleet job item's claim, renewed while it runs; a dead replica's items are retried after it runs out. */
    FLEET_JOB_CLAIM_TTL_SECONDS: z.coerce.number().int().min(2).max(3_600).default(60),
    /** Test-only: lets the e2e suite make key mints fail for one browser. Never set it elsewhere. */
    FLEETDECK_E2E_FAULTS: z.enum(["0", "1"]).optional(),
    GITHUB_ID: optionalString,
    GITHUB_SECRET: optionalString,
    /** Hardening (README "Limits and abuse"): client address, quotas, rate limit, sign-up, retention. */
    TRUSTED_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
    MAX_INSTANCES_PER_USER: z.coerce.number().int().min(0).max(10_000).default(5),
    OPERATION_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).max(10_000).default(20),
    GITHUB_ALLOWED_ORGS: commaList,
    SIGNUP_ALLOWED_EMAIL_DOMAINS: commaList,
    EVENT_RETENTION_DAYS: z.coerce.number().int().min(1).max(36_500).default(365),
  })
  .superRefine((env, ctx) => {
    if (env.MACHINE_PROVIDER === "fly") {
      for (const name of ["FLY_API_TOKEN", "FLY_APP_NAME"] as const) {
        if (!env[name]) ctx.addIssue({ code: "custom", path: [name], message: `${name} is required when MACHINE_PROVIDER=fly` });
      }
    }
    if (env.LOCAL_MACHINES_URL && !env.LOCAL_MACHINES_TOKEN) {
      ctx.addIssue({ code: "custom", path: ["LOCAL_MACHINES_TOKEN"], message: "LOCAL_MACHINES_TOKEN is required with LOCAL_MACHINES_URL" });
    }
    if (env.NODE_ENV === "production" && !env.DATABASE_URL && env.DATABASE_DRIVER !== "pglite") {
      ctx.addIssue({
        code: "custom",
        path: ["DATABASE_URL"],
        message: "DATABASE_URL is required in production (set DATABASE_DRIVER=pglite to run on the embedded database deliberately)",
      });
    }
    if (env.NEXTAUTH_SECRET_PREVIOUS.length > 0 && !env.NEXTAUTH_SECRET) {
      ctx.addIssue({ code: "custom", path: ["NEXTAUTH_SECRET_PREVIOUS"], message: "NEXTAUTH_SECRET_PREVIOUS needs NEXTAUTH_SECRET: previous secrets only verify, the current one signs" });
    }
    if (env.NEXTAUTH_SECRET && env.NEXTAUTH_SECRET_PREVIOUS.includes(env.NEXTAUTH_SECRET)) {
      ctx.addIssue({ code: "custom", path: ["NEXTAUTH_SECRET_PREVIOUS"], message: "NEXTAUTH_SECRET_PREVIOUS must not contain NEXTAUTH_SECRET itself" });
    }
    if (env.NODE_ENV === "production") checkProductionEnv(env, ctx);
    if (Boolean(env.GITHUB_ID) !== Boolean(env.GITHUB_SECRET)) {
      ctx.addIssue({ code: "custom", path: ["GITHUB_SECRET"], message: "GITHUB_ID and GITHUB_SECRET must be set together" });
    }
  });

export type Env = z.infer<typeof envSchema>;

const PRODUCTION_SECRETS = ["NEXTAUTH_SECRET", "INTERNAL_API_SECRET", "CRON_SECRET", "KEY_ENCRYPTION_KEY", "GATEWAY_TOKEN_SECRET"] as const;

/** localhost, 127.0.0.0/8 and ::1: the only hosts where plain http cannot be sniffed on a network. */
export function isLoopbackUrl(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host.endsWith(".localhost") || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
}

type ProductionChecked = Partial<Record<(typeof PRODUCTION_SECRETS)[number] | "NEXTAUTH_URL" | "GATEWAY_CALLBACK_URL" | "FLEETDECK_E2E_FAULTS", string>> & {
  NEXTAUTH_SECRET_PREVIOUS: readonly string[];
};

/**
 * What a production deployment must get right: https for the session cookie (`Secure`) and for
 * the keys instances send on every whoami call, every secret set and each one different (a
 * shared secret would let one leak unlock every door), and the e2e fault switch only on loopback.
 */
function checkProductionEnv(env: ProductionChecked, ctx: z.RefinementCtx): void {
  const issue = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
  if (!env.NEXTAUTH_URL) issue("NEXTAUTH_URL", "NEXTAUTH_URL is required in production (the app's public https:// URL)");
  for (const name of ["NEXTAUTH_URL", "GATEWAY_CALLBACK_URL"] as const) {
    const url = env[name];
    if (url && !url.startsWith("https:") && !isLoopbackUrl(url)) issue(name, `${name} must be https:// in production (loopback addresses excepted)`);
  }
  const seen = new Map<string, string>();
  for (const name of PRODUCTION_SECRETS) {
    const value = env[name];
    if (!value) issue(name, `${name} is required in production`);
    else if (seen.has(value)) issue(name, `${name} must differ from ${seen.get(value)}: every secret needs its own value`);
    else seen.set(value, name);
  }
  // A verify-only secret must not double as another secret either (it still opens sessions and keys).
  for (const previous of env.NEXTAUTH_SECRET_PREVIOUS) {
    const clash = seen.get(previous);
    if (clash && clash !== "NEXTAUTH_SECRET") issue("NEXTAUTH_SECRET_PREVIOUS", `NEXTAUTH_SECRET_PREVIOUS must not reuse ${clash}: every secret needs its own value`);
  }
  if (env.FLEETDECK_E2E_FAULTS === "1" && !(env.NEXTAUTH_URL && isLoopbackUrl(env.NEXTAUTH_URL))) {
    issue("FLEETDECK_E2E_FAULTS", "FLEETDECK_E2E_FAULTS is for the e2e suite only: refused in production unless NEXTAUTH_URL is a loopback address");
  }
}

export class EnvError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid environment:\n${problems.map((problem) => `  - ${problem}`).join("\n")}`);
    this.name = "EnvError";
  }
}

/** Parses an environment object, throwing one error that lists every problem. */
export function parseEnv(source: Record<string, string | undefined>): Env {
  const result = envSchema.safeParse(source);
  if (result.success) return result.data;
  throw new EnvError(
    result.error.issues.map((issue) => `${issue.path.join(".") || "environment"}: ${issue.message}`),
  );
}

let cached: Env | undefined;

/** The process environment, parsed once. */
export function getEnv(): Env {
  cached ??= parseEnv(process.env);
  return cached;
}

/** Test seam: forget the parsed environment so the next getEnv() reads process.env again. */
export function resetEnvForTests(): void {
  cached = undefined;
}

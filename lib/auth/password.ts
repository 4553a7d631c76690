import "server-only";
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from "node:crypto";
import pLimit from "p-limit";

// OWASP's scrypt floor (N=2^17, r=8, p=1) costs ~128 MiB and ~150 ms per hash here; that is the
// point: a stolen hash must be expensive to attack. The parameters travel inside each hash.
const DEFAULT_PARAMS = { N: 2 ** 17, r: 8, p: 1 };
const KEY_LENGTH = 32;

/**
 * At most this many scrypt jobs run at once per process. Each takes ~128 MiB and one of libuv's 4
 * threads, which key mints (HMAC signing), DNS and file reads share: a sign-in flood must never hold
 * them all. Jobs beyond it wait in line; beyond HASH_QUEUE_LIMIT waiting, new ones are refused.
 */
export const HASH_CONCURRENCY = 1;
export const HASH_QUEUE_LIMIT = 32;
let hashingSlots = pLimit(HASH_CONCURRENCY);

/** Benchmark seam: `Infinity` shows what an unbounded flood does (bench/sign-in). */
export function setHashConcurrencyForBench(concurrency: number): void {
  hashingSlots = pLimit(concurrency);
}

/** Thrown when too many password checks are already waiting: the caller answers "try again later". */
export class PasswordHashingBusyError extends Error {
  readonly kind = "password_hashing_busy";
  constructor() {
    super("Too many sign-ins are being checked right now. Try again in a moment.");
    this.name = "PasswordHashingBusyError";
  }
}

export function isPasswordHashingBusy(error: unknown): boolean {
  return (error as { kind?: unknown } | null)?.kind === "password_hashing_busy";
}

function scrypt(password: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  if (hashingSlots.pendingCount >= HASH_QUEUE_LIMIT) return Promise.reject(new PasswordHashingBusyError());
  return hashingSlots(() => runScrypt(password, salt, params));
}

function runScrypt(password: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { ...params, maxmem: 256 * 1024 * 1024 };
  return new Promise((resolve, reject) =>
    scryptCallback(password.normalize("NFKC"), salt, KEY_LENGTH, options, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

/** `scrypt$N$r$p$salt$hash` (base64url parts). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, DEFAULT_PARAMS);
  const { N, r, p } = DEFAULT_PARAMS;
  return ["scrypt", N, r, p, salt.toString("base64url"), key.toString("base64url")].join("$");
}

/** Constant-time check of a password against a stored hash; a malformed hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split("$");
  if (scheme !== "scrypt" || !n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, "base64url");
  const actual = await scrypt(password, Buffer.from(salt, "base64url"), { N: Number(n), r: Number(r), p: Number(p) });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

let dummyHash: Promise<string> | undefined;

/**
 * Burns the same time as a real check, so an unknown email answers as slowly as a wrong password
 * and response times do not reveal which accounts exist.
 */
export async function verifyAgainstDummy(password: string): Promise<false> {
  dummyHash ??= hashPassword(randomBytes(12).toString("hex"));
  await verifyPassword(password, await dummyHash);
  return false;
}

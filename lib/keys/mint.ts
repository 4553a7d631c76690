import "server-only";
import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { z } from "zod";
import type { Database } from "@/db";
import { destroyTransactionConnection } from "@/db/observed-connections";
import { users } from "@/db/schema";
import { AppError } from "@/lib/errors";
import { signKiloToken } from "@/lib/tokens/kilo-token";
import { keyIdOf, pepperFingerprint } from "./fingerprints";

/** Every instance key lives 30 days; the scheduler replaces it well before that. */
export const API_KEY_LIFETIME_SECONDS = 30 * 24 * 60 * 60;

/** The whole mint, connection wait included, gets this long before it is abandoned. */
export const MINT_TIMEOUT_MS = 5_000;

// The server-side timeout fires this much before the client-side deadline, so in the normal case
// Postgres itself cancels the statement and reports it before we stop waiting: nothing is left
// behind. The client deadline remains for when the server or the network does not answer at all.
const SERVER_TIMEOUT_MARGIN_MS = 100;

// SQLSTATEs Postgres reports when statement_timeout or lock_timeout cancels a statement.
const QUERY_CANCELED = "57014";
const LOCK_NOT_AVAILABLE = "55P03";

export interface MintedApiKey {
  /** The key itself. Goes only into encryption (encryptApiKey) and the machine's environment. */
  token: string;
  keyId: string;
  /** Unique per mint; what whoami matches against the instance's current keys. */
  jti: string;
  /** Which signing secret signed it (the `kid` header). */
  signingKid: string;
  userId: string;
  instanceId: string;
  expiresAt: Date;
  mintedAt: Date;
  /** Fingerprint of the pepper it was signed under (never the pepper). */
  pepperFingerprint: string;
}

export interface MintApiKeyDeps {
  db: Database;
  /** NEXTAUTH_SECRET: the key ring's current secret, the only one that signs. */
  secret: string;
  /** KILO_TOKEN_ENV, when keys are bound to one environment. */
  env?: string;
  now?: () => Date;
  timeoutMs?: number;
}

/** The mint ran out of its budget; the database statement was cancelled, not left running. */
export class KeyMintTimeoutError extends AppError {
  constructor(readonly timeoutMs: number, options?: { cause?: unknown }) {
    super("key_unavailable", `Minting an API key timed out after ${timeoutMs} ms waiting for the database.`, {
      reason: "mint_timeout",
      timeoutMs,
    });
    this.name = "KeyMintTimeoutError";
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

const uuid = z.uuid();

/**
 * Mints a fresh 30-day key for `instanceId` under the user's *current* pepper, read from Postgres
 * at this moment (never a cached one: a rotation that committed before this read is honoured).
 *
 * Budget: the whole call, waiting for a pooled connection included, takes at most `timeoutMs`.
 * The read runs in its own short transaction with `statement_timeout` and `lock_timeout` set just
 * under the remaining budget, so on timeout Postgres cancels the statement itself and the
 * transaction is rolled back; a client-side deadline backs that up when the server does not answer,
 * after which the transaction refuses to start any further statement and its connection is
 * closed (discarded by the pool, never reused).
 *
 * Throws `not_found` for an unknown user and KeyMintTimeoutError (`key_unavailable`) on timeout.
 * It writes nothing, so it is safe to repeat; persist the result with storeMintedKey.
 */
export async function mintApiKey(
  input: { userId: string; instanceId: string },
  deps: MintApiKeyDeps,
): Promise<MintedApiKey> {
  if (!uuid.safeParse(input.userId).success) throw unknownUser(input.userId);
  const timeoutMs = deps.timeoutMs ?? MINT_TIMEOUT_MS;
  const started = performance.now();
  const remaining = () => timeoutMs - (performance.now() - started);
  let abandoned = false;
  let abandonConnection = () => {};

  const read = deps.db.transaction(async (tx) => {
    // On the deadline this connection is closed, not handed back to the pool with our statement on it.
    abandonConnection = () => destroyTransactionConnection(tx);
    if (abandoned) abandonConnection();
    const serverBudget = Math.floor(remaining() - SERVER_TIMEOUT_MARGIN_MS);
    if (abandoned || serverBudget <= 0) throw new KeyMintTimeoutError(timeoutMs);
    await tx.execute(
      sql`select set_config('statement_timeout', ${String(serverBudget)}, true), set_config('lock_timeout', ${String(serverBudget)}, true)`,
    );
    if (abandoned) throw new KeyMintTimeoutError(timeoutMs);
    const [row] = await tx
      .select({ pepper: users.apiTokenPepper })
      .from(users)
      .where(eq(users.id, input.userId))
      .limit(1);
    return row;
  });
  // When the deadline wins the race, the transaction still settles later; that is expected.
  read.catch(() => {});

  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abandoned = true;
      abandonConnection();
      reject(new KeyMintTimeoutError(timeoutMs));
    }, timeoutMs);
  });

  let row: { pepper: string } | undefined;
  try {
    row = await Promise.race([read, deadline]);
  } catch (error) {
    if (error instanceof KeyMintTimeoutError) throw error;
    if (isStatementCancelled(error)) throw new KeyMintTimeoutError(timeoutMs, { cause: error });
    throw error;
  } finally {
    clearTimeout(timer);
  }
  if (!row) throw unknownUser(input.userId);

  const mintedAt = deps.now?.() ?? new Date();
  const jti = randomUUID();
  const { token, expiresAt, kid } = await signKiloToken({
    userId: input.userId,
    pepper: row.pepper,
    secret: deps.secret,
    expiresInSeconds: API_KEY_LIFETIME_SECONDS,
    env: deps.env,
    extra: { instanceId: input.instanceId, jti },
    now: mintedAt,
  });
  return {
    token,
    keyId: keyIdOf(token),
    jti,
    signingKid: kid,
    userId: input.userId,
    instanceId: input.instanceId,
    expiresAt,
    mintedAt,
    pepperFingerprint: pepperFingerprint(row.pepper),
  };
}

function unknownUser(userId: string): AppError {
  return new AppError("not_found", `Cannot mint a key: user ${userId} does not exist.`);
}

/** Drivers wrap the server's error (drizzle's DrizzleQueryError → pg error), so follow `cause`. */
function isStatementCancelled(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (code === QUERY_CANCELED || code === LOCK_NOT_AVAILABLE) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

import { createHash } from "node:crypto";
import { and, eq } from "drizzle-orm";
import type { Database } from "@/db";
import { idempotencyKeys } from "@/db/schema";
import { AppError } from "@/lib/errors";

export interface IdempotentResponse {
  status: number;
  body: unknown;
  /** What the call created, kept with the key. */
  resourceId?: string | null;
}

export interface IdempotencyClaim {
  /** The operation, e.g. `platform.provision`; keys of different scopes never collide. */
  scope: string;
  key: string;
  /** The parsed request; its canonical JSON decides whether a repeat is "the same call". */
  request: unknown;
}

/**
 * Runs `work` at most once per (scope, key) and replays its stored response to every repeat.
 *
 * The key's row is inserted in the same transaction as the work. A concurrent call with the same
 * key blocks on that insert until the first transaction ends: after a commit it replays the stored
 * response, after a rollback (the work failed) it does the work itself. So two racing calls never
 * both do the work, a failure is never replayed, and a crash leaves nothing behind. The same key
 * with a different request throws `conflict` (409). `work` must use the transaction it is given.
 */
export async function runIdempotently(
  db: Database,
  claim: IdempotencyClaim,
  work: (tx: Database) => Promise<IdempotentResponse>,
): Promise<IdempotentResponse & { replayed: boolean }> {
  const requestHash = hashRequest(claim.request);
  return db.transaction(async (tx) => {
    const [claimed] = await tx
      .insert(idempotencyKeys)
      .values({ scope: claim.scope, key: claim.key, requestHash, responseStatus: 0, responseBody: {} })
      .onConflictDoNothing()
      .returning({ key: idempotencyKeys.key });
    if (!claimed) {
      const [stored] = await tx
        .select()
        .from(idempotencyKeys)
        .where(and(eq(idempotencyKeys.scope, claim.scope), eq(idempotencyKeys.key, claim.key)))
        .limit(1);
      if (!stored) throw new AppError("conflict", "This Idempotency-Key is being used by another request. Try again.");
      if (stored.requestHash !== requestHash) {
        throw new AppError("conflict", "This Idempotency-Key was already used with a different request. Use a new key for a new request.");
      }
      return { status: stored.responseStatus, body: stored.responseBody, resourceId: stored.resourceId, replayed: true };
    }
    const response = await work(tx as unknown as Database);
    await tx
      .update(idempotencyKeys)
      .set({ responseStatus: response.status, responseBody: response.body, resourceId: response.resourceId ?? null })
      .where(and(eq(idempotencyKeys.scope, claim.scope), eq(idempotencyKeys.key, claim.key)));
    return { ...response, replayed: false };
  });
}

/** SHA-256 of the request's canonical JSON (object keys sorted, undefined members dropped). */
export function hashRequest(request: unknown): string {
  return createHash("sha256").update(canonicalJson(request)).digest("hex");
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, inner]) => inner !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, inner]) => `${JSON.stringify(key)}:${canonicalJson(inner)}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

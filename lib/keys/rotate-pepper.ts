import { and, eq, isNotNull, isNull } from "drizzle-orm";
import { z } from "zod";
import type { Database } from "@/db";
import { generatePepper, instanceEvents, instances, users } from "@/db/schema";
import type { Actor, OperationCommit } from "@/lib/audit/events";
import { AppError } from "@/lib/errors";
import { pepperFingerprint } from "./fingerprints";
import { notifyKeyStateChanged } from "./invalidation";
import type { KeyStateCache } from "./key-state-cache";

export type { Actor, ActorType } from "@/lib/audit/events";

export interface RotatePepperResult {
  userId: string;
  rotatedAt: Date;
  /** Instances whose stored key this rotation marked revoked. */
  revokedKeyCount: number;
  /** Running instances to re-key live now (their refresh backoff was cleared). */
  runningInstanceCount: number;
  /** Fingerprint of the new pepper, for display; never the pepper. */
  pepperFingerprint: string;
}

export interface RotatePepperDeps {
  db: Database;
  /** This process's key-state cache, dropped at once after commit (other replicas hear NOTIFY). */
  cache?: KeyStateCache;
  now?: () => Date;
}

/**
 * Replaces the user's pepper with a fresh random one, revoking every key minted under the old one.
 * In ONE transaction: the new pepper and pepperRotatedAt; keyRevokedAt on every stored key of the
 * user's instances not already revoked (so the fallback check needs only the instance row); an
 * account-level `pepper_rotated` event plus a `key_revoked` event per affected instance (key ids
 * only); the refresh backoff of every running instance cleared, so the live re-key the caller kicks
 * next (kickRekey, lib/scheduler/rekey.ts) picks them all; and a NOTIFY that other replicas receive
 * only once this commits. A failure anywhere rolls all of it back, leaving the old pepper in force.
 *
 * A caller's `commit` (a fleet job item's outcome) is written in that transaction, and its details
 * go into the `pepper_rotated` event: a job item that rotated is never rotated again.
 *
 * Repeating it rotates again (each call revokes the keys minted since the last). Concurrent calls
 * for one user serialise on the user row; both succeed and the later pepper wins. Throws
 * `not_found` for an unknown user.
 */
export async function rotatePepper(
  input: { userId: string; actor: Actor; commit?: OperationCommit },
  deps: RotatePepperDeps,
): Promise<RotatePepperResult> {
  if (!z.uuid().safeParse(input.userId).success) throw new AppError("not_found", "No such user.");
  const rotatedAt = deps.now?.() ?? new Date();
  const pepper = generatePepper();
  let counts: { revokedKeyCount: number; runningInstanceCount: number };
  try {
    counts = await deps.db.transaction(async (tx) => {
      const [user] = await tx
        .update(users)
        .set({ apiTokenPepper: pepper, pepperRotatedAt: rotatedAt, updatedAt: rotatedAt })
        .where(eq(users.id, input.userId))
        .returning({ id: users.id });
      if (!user) throw new AppError("not_found", "No such user.");

      const revoked = await tx
        .update(instances)
        .set({ keyRevokedAt: rotatedAt })
        .where(and(eq(instances.ownerId, input.userId), isNotNull(instances.encryptedKey), isNull(instances.keyRevokedAt)))
        .returning({ id: instances.id, keyId: instances.keyId });
      // Running instances are re-keyed live right after this commits: none may sit out a backoff.
      const running = await tx
        .update(instances)
        .set({ refreshAttempts: 0, nextRefreshAttemptAt: null })
        .where(and(eq(instances.ownerId, input.userId), eq(instances.status, "running"), isNull(instances.destroyedAt)))
        .returning({ id: instances.id });

      const common = { userId: input.userId, actorType: input.actor.type, actorId: input.actor.id, outcome: "success" as const };
      await tx.insert(instanceEvents).values([
        {
          ...common,
          instanceId: null,
          action: "pepper_rotated",
          details: { revokedKeyCount: revoked.length, pepperFingerprint: pepperFingerprint(pepper), ...input.commit?.details },
        },
        ...revoked.map((row) => ({
          ...common,
          instanceId: row.id,
          action: "key_revoked",
          keyId: row.keyId,
          details: { reason: "pepper_rotated" },
        })),
      ]);
      await input.commit?.write(tx, "success");
      await notifyKeyStateChanged(tx, { userId: input.userId });
      return { revokedKeyCount: revoked.length, runningInstanceCount: running.length };
    });
  } catch (error) {
    // drizzle's query error lists the statement's parameters, and one of them is the new pepper.
    // Recognised by shape: the database handle may come from another bundle's copy of drizzle.
    throw isDrizzleQueryError(error) && error.cause ? error.cause : error;
  }
  deps.cache?.invalidate({ userId: input.userId });
  return { userId: input.userId, rotatedAt, ...counts, pepperFingerprint: pepperFingerprint(pepper) };
}

function isDrizzleQueryError(error: unknown): error is Error & { query: string; params: unknown[] } {
  return error instanceof Error && typeof (error as { query?: unknown }).query === "string" && Array.isArray((error as { params?: unknown }).params);
}

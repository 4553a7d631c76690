import { and, eq, isNull } from "drizzle-orm";
import type { Database } from "@/db";
import { instances, users } from "@/db/schema";
import { AppError } from "@/lib/errors";
import { encryptApiKey } from "./encryption";
import { pepperFingerprint } from "./fingerprints";
import { notifyKeyStateChanged } from "./invalidation";
import type { MintedApiKey } from "./mint";

export interface StoreMintedKeyDeps {
  db: Database;
  encryptionKey: Buffer;
  now?: () => Date;
  /**
   * The caller's operation lease: the key is written only while that lease is still held and the
   * instance is not destroyed, so an operation that lost its lease can never overwrite a newer key.
   */
  leaseToken?: string;
}

/**
 * "Persist, then deploy": records a freshly minted key as the instance's latest key (encrypted,
 * with its id, expiry, mint time, source `minted` and pepper fingerprint) before any machine call.
 *
 * Closes the race with rotatePepper: the owner's row is locked FOR SHARE while the key is written,
 * so a rotation either committed before (the key's pepper is then already stale, and the key is
 * stored as revoked) or waits until after (and then marks this key revoked itself). Either way a
 * dead key is never stored as usable. `revoked: true` tells the caller to mint again.
 *
 * Overwrites the previous latest key (which whoami refuses from then on, unless it is the deployed
 * one: every replica's key-state cache hears of it when this commits); repeating it with the same key is harmless. Throws
 * `not_found` when the instance does not exist or does not belong to the key's user.
 */
export async function storeMintedKey(key: MintedApiKey, deps: StoreMintedKeyDeps): Promise<{ revoked: boolean }> {
  const encryptedKey = encryptApiKey(key.token, { encryptionKey: deps.encryptionKey, instanceId: key.instanceId });
  return deps.db.transaction(async (tx) => {
    const [owner] = await tx
      .select({ pepper: users.apiTokenPepper })
      .from(instances)
      .innerJoin(users, eq(users.id, instances.ownerId))
      .where(and(eq(instances.id, key.instanceId), eq(instances.ownerId, key.userId)))
      .for("share", { of: users });
    if (!owner) throw new AppError("not_found", "The key's instance does not exist or has another owner.");

    const revoked = pepperFingerprint(owner.pepper) !== key.pepperFingerprint;
    const now = deps.now?.() ?? new Date();
    const written = await tx
      .update(instances)
      .set({
        encryptedKey,
        keyId: key.keyId,
        keyJti: key.jti,
        keySigningKid: key.signingKid,
        keyExpiresAt: key.expiresAt,
        keyMintedAt: key.mintedAt,
        keySource: "minted",
        keyPepperFingerprint: key.pepperFingerprint,
        keyRevokedAt: revoked ? now : null,
        updatedAt: now,
      })
      .where(
        and(
          eq(instances.id, key.instanceId),
          isNull(instances.destroyedAt),
          deps.leaseToken ? eq(instances.leaseToken, deps.leaseToken) : undefined,
        ),
      )
      .returning({ id: instances.id });
    if (written.length === 0) {
      throw new AppError("operation_in_progress", "Another operation has taken over the instance; this key was not stored.");
    }
    // The previous latest key, unless it is the deployed one, is superseded from this commit on.
    await notifyKeyStateChanged(tx, { instanceId: key.instanceId });
    return { revoked };
  });
}

import { and, eq, isNull } from "drizzle-orm";
import { instances, type InstanceRow } from "@/db/schema";
import { AppError } from "@/lib/errors";
import { mintApiKey, type MintedApiKey } from "@/lib/keys/mint";
import { timeKeyMint } from "@/lib/metrics";
import { storeMintedKey } from "@/lib/keys/store-key";
import type { OperationStep } from "./operation-steps";
import type { MintingOperationContext, OperationContext } from "./operation";

/** The reason a key was refused at the last check before the machine write (a rotation landed meanwhile). */
export const REVOKED_DURING_OPERATION = "revoked_during_operation";

/**
 * Mints a key for the operation's instance under its owner's current pepper and the current
 * signing secret, within the mint budget (writes nothing; timed for the metrics).
 */
export function mintKeyFor(context: MintingOperationContext): Promise<MintedApiKey> {
  const { deps, keyRing, lease } = context;
  return timeKeyMint(() =>
    mintApiKey(
      { userId: lease.row.ownerId, instanceId: lease.instanceId },
      { db: deps.db, secret: keyRing.current, env: deps.tokenEnv, now: deps.now, timeoutMs: deps.timeouts.mintMs },
    ),
  );
}

/**
 * "Persist, then deploy": stores a freshly minted key as the instance's latest, under the
 * operation's lease. A rotation that committed while the key was minted makes it dead on arrival:
 * that is `key_unavailable` (`revoked_during_mint`), and the caller touches no machine.
 */
export async function storeKeyUnderLease(context: OperationContext, key: MintedApiKey): Promise<void> {
  const { deps, lease } = context;
  const { revoked } = await storeMintedKey(key, { db: deps.db, encryptionKey: deps.encryptionKey, now: deps.now, leaseToken: lease.token });
  if (revoked) {
    throw new AppError(
      "key_unavailable",
      "The owner's API keys were revoked while this key was being minted, so it is already dead. Try again to mint one under the new pepper.",
      { reason: "revoked_during_mint" },
    );
  }
  await deps.hooks?.afterKeyStored?.(lease.instanceId);
}

/**
 * The last check before a machine sees `keyId`: under the lease, the key must still be the
 * instance's latest and not revoked (a pepper rotation, or another writer, may have committed
 * since it was chosen). Only the instances row is read, as the fallback rule requires. Applies
 * `values` in the same statement; throws `key_unavailable` (`revoked_during_operation`) when the
 * key is no longer usable, so nothing is written to the machine.
 */
export async function claimMachineWriteForKey(
  context: OperationContext,
  keyId: string,
  values: Partial<InstanceRow> & { leaseStep: OperationStep },
): Promise<void> {
  const stillUsable = await context.updateIf(and(isNull(instances.keyRevokedAt), eq(instances.keyId, keyId)), values);
  if (!stillUsable) {
    throw new AppError(
      "key_unavailable",
      "The instance's API keys were revoked while this operation ran, so the chosen key is already dead. Nothing was written to the machine; a fresh key under the new pepper is needed.",
      { reason: REVOKED_DURING_OPERATION },
    );
  }
}

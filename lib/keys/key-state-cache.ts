import { eq } from "drizzle-orm";
import type { Database, DatabaseHandle } from "@/db";
import { instances, users } from "@/db/schema";
import { LoadingCache, LruMap } from "./cache";
import { decodeKeyStateChange, KEY_STATE_CHANNEL, type KeyStateChange } from "./invalidation";

/** How long a pepper or instance state is trusted without a notification; bounds staleness if NOTIFY is lost. */
export const KEY_STATE_TTL_MS = 30_000;
const MAX_ENTRIES = 10_000;

export interface InstanceKeyState {
  ownerId: string;
  destroyed: boolean;
  /**
   * The instance's current keys — the latest minted and the deployed one, exactly the keys that
   * may be on its machine — by `jti` and by key id (keys recorded before jtis were have only an id).
   */
  currentJtis: string[];
  currentKeyIds: string[];
}

/** Where the cache reads from on a miss. Tests wrap it to count reads. */
export interface KeyStateSource {
  /** The user's current pepper, or null when the user does not exist. */
  currentPepper(userId: string): Promise<string | null>;
  /** The instance's owner and whether it is destroyed, or null when there is no such row. */
  instanceState(instanceId: string): Promise<InstanceKeyState | null>;
}

export function databaseKeyStateSource(db: Database): KeyStateSource {
  return {
    async currentPepper(userId) {
      const [row] = await db.select({ pepper: users.apiTokenPepper }).from(users).where(eq(users.id, userId)).limit(1);
      return row?.pepper ?? null;
    },
    async instanceState(instanceId) {
      const [row] = await db
        .select({
          ownerId: instances.ownerId,
          status: instances.status,
          destroyedAt: instances.destroyedAt,
          keyJti: instances.keyJti,
          deployedKeyJti: instances.deployedKeyJti,
          keyId: instances.keyId,
          deployedKeyId: instances.deployedKeyId,
        })
        .from(instances)
        .where(eq(instances.id, instanceId))
        .limit(1);
      if (!row) return null;
      const present = (values: (string | null)[]) => values.filter((value): value is string => value !== null);
      return {
        ownerId: row.ownerId,
        destroyed: row.status === "destroyed" || row.destroyedAt !== null,
        currentJtis: present([row.keyJti, row.deployedKeyJti]),
        currentKeyIds: present([row.keyId, row.deployedKeyId]),
      };
    },
  };
}

/** A key whose signature, expiry, version and shape have been checked once; see authenticate.ts. */
export interface VerifiedKey {
  userId: string;
  instanceId: string;
  keyId: string;
  /** The `jti` claim, compared with the instance's current keys on every use. */
  jti: string | null;
  /** The pepper claim, compared with the owner's current pepper on every use. */
  pepper: string | null;
  issuedAtMs: number;
  expiresAtMs: number;
}

export interface KeyStateCacheOptions {
  ttlMs?: number;
  maxEntries?: number;
  now?: () => number;
}

/**
 * What whoami needs to know without asking Postgres on every request: owners' current peppers,
 * instances' state (each trusted for `ttlMs`), and keys already verified (indexed by the key's
 * SHA-256, never the key). All three are bounded LRUs.
 *
 * Invalidation: `invalidate()` drops an entry at once in this process (rotatePepper calls it);
 * `listen()` subscribes to KEY_STATE_CHANNEL so a change committed by any replica is dropped here
 * within milliseconds. While the subscription is not proven live (not yet, or lost), every read
 * goes through to Postgres.
 * A verified key is never trusted on its own: each use re-checks expiry and compares its pepper
 * with the (cached) current pepper, so a rotation revokes it as soon as the pepper entry goes.
 */
export class KeyStateCache {
  readonly #peppers: LoadingCache<string | null>;
  readonly #instances: LoadingCache<InstanceKeyState | null>;
  readonly #verified: LruMap<string, VerifiedKey>;
  #verifiedUnder: { keyRing: string; env: string | undefined } | undefined;
  /** The invalidation subscription was lost: nothing cached can be trusted until it is back. */
  #unsubscribed = false;
  readonly #listeners = new Set<(change: KeyStateChange) => void>();

  constructor(source: KeyStateSource, options: KeyStateCacheOptions = {}) {
    const settings = {
      ttlMs: options.ttlMs ?? KEY_STATE_TTL_MS,
      maxEntries: options.maxEntries ?? MAX_ENTRIES,
      now: options.now ?? Date.now,
    };
    this.#peppers = new LoadingCache({ ...settings, load: (userId) => source.currentPepper(userId) });
    this.#instances = new LoadingCache({ ...settings, load: (instanceId) => source.instanceState(instanceId) });
    this.#verified = new LruMap(settings.maxEntries);
  }

  currentPepper(userId: string): Promise<string | null> {
    if (this.#unsubscribed) this.#peppers.invalidate(userId);
    return this.#peppers.get(userId);
  }

  /** `loadedSince` (ms): reload an entry read before then, e.g. before the key being checked was minted. */
  instanceState(instanceId: string, options: { loadedSince?: number } = {}): Promise<InstanceKeyState | null> {
    if (this.#unsubscribed) this.#instances.invalidate(instanceId);
    return this.#instances.get(instanceId, options);
  }

  /**
   * A previously verified key, if it was verified under this same key ring and env (`keyRing` is
   * keyRingFingerprint(): one-way ids of the ring's secrets, never the secrets).
   */
  verifiedKey(digest: string, keyRing: string, env: string | undefined): VerifiedKey | undefined {
    const under = this.#verifiedUnder;
    if (!under || under.keyRing !== keyRing || under.env !== env) return undefined;
    return this.#verified.get(digest);
  }

  rememberVerifiedKey(digest: string, keyRing: string, env: string | undefined, key: VerifiedKey): void {
    const under = this.#verifiedUnder;
    if (!under || under.keyRing !== keyRing || under.env !== env) {
      // A different key ring or env makes every earlier verification meaningless.
      this.#verified.clear();
      this.#verifiedUnder = { keyRing, env };
    }
    this.#verified.set(digest, key);
  }

  forgetVerifiedKey(digest: string): void {
    this.#verified.delete(digest);
  }

  invalidate(change: KeyStateChange): void {
    if ("userId" in change) this.#peppers.invalidate(change.userId);
    else this.#instances.invalidate(change.instanceId);
  }

  /**
   * Calls `listener` with every change another replica (or this one) announces on the channel, after
   * the cache has dropped it; e.g. the scheduler re-keys a user's instances when their pepper rotates.
   * Returns the function that removes it.
   */
  onChange(listener: (change: KeyStateChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  invalidateAll(): void {
    this.#peppers.clear();
    this.#instances.clear();
  }

  /**
   * Subscribes to other replicas' changes on the handle's dedicated LISTEN connection. Until the
   * subscription is proven live, and whenever it is lost, nothing cached is trusted: every read
   * goes through to Postgres. When it goes live (again), everything cached so far is dropped (it
   * may predate the subscription). The handle reconnects on its own, over one connection and one
   * retry chain. Resolves to an unsubscribe function.
   */
  async listen(handle: Pick<DatabaseHandle, "listen">): Promise<() => Promise<void>> {
    this.#unsubscribed = true;
    return handle.listen(
      KEY_STATE_CHANNEL,
      (payload) => {
        const change = decodeKeyStateChange(payload);
        if (!change) return this.invalidateAll();
        this.invalidate(change);
        for (const listener of this.#listeners) listener(change);
      },
      {
        onLive: () => {
          this.#unsubscribed = false;
          this.invalidateAll();
        },
        onLost: () => {
          // Notifications may be missed: read through to Postgres until subscribed again.
          this.#unsubscribed = true;
          this.invalidateAll();
        },
      },
    );
  }
}

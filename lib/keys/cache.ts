/** A Map kept in least-recently-used order, dropping the oldest entry beyond `maxEntries`. */
export class LruMap<K, V> {
  readonly #entries = new Map<K, V>();

  constructor(readonly maxEntries: number) {
    if (!(maxEntries > 0)) throw new RangeError("maxEntries must be positive");
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: K): V | undefined {
    const value = this.#entries.get(key);
    if (value !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    if (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
  }

  delete(key: K): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}

/**
 * A bounded cache of loaded values that live for `ttlMs`. Concurrent misses share one load. An
 * invalidation during a load wins: the load's result is handed to the callers already waiting for
 * it but is not stored, so a value read before a change is never cached after it.
 */
export class LoadingCache<V> {
  readonly #values: LruMap<string, { value: V; loadedAt: number; freshUntil: number }>;
  readonly #loading = new Map<string, Promise<V>>();

  constructor(
    private readonly options: { ttlMs: number; maxEntries: number; now: () => number; load: (key: string) => Promise<V> },
  ) {
    this.#values = new LruMap(options.maxEntries);
  }

  /** `loadedSince`: a value loaded before this time (ms) is reloaded, however fresh its TTL says it is. */
  get(key: string, options: { loadedSince?: number } = {}): Promise<V> {
    const cached = this.#values.get(key);
    const recentEnough = options.loadedSince === undefined || (cached?.loadedAt ?? 0) >= options.loadedSince;
    if (cached && cached.freshUntil > this.options.now() && recentEnough) return Promise.resolve(cached.value);
    if (cached && !recentEnough) this.#values.delete(key);
    const pending = this.#loading.get(key);
    if (pending) return pending;
    const loadedAt = this.options.now();
    const load = this.options.load(key).then(
      (value) => {
        if (this.#loading.get(key) === load) {
          this.#loading.delete(key);
          this.#values.set(key, { value, loadedAt, freshUntil: this.options.now() + this.options.ttlMs });
        }
        return value;
      },
      (error: unknown) => {
        if (this.#loading.get(key) === load) this.#loading.delete(key);
        throw error;
      },
    );
    this.#loading.set(key, load);
    return load;
  }

  invalidate(key: string): void {
    this.#values.delete(key);
    this.#loading.delete(key);
  }

  clear(): void {
    this.#values.clear();
    this.#loading.clear();
  }
}

import { describe, expect, it } from "vitest";
import { LoadingCache, LruMap } from "./cache";

describe("LruMap", () => {
  it("drops the least recently used entry beyond its bound", () => {
    const lru = new LruMap<string, number>(2);
    lru.set("a", 1);
    lru.set("b", 2);
    expect(lru.get("a")).toBe(1); // a is now the most recent
    lru.set("c", 3);
    expect(lru.get("b")).toBeUndefined();
    expect(lru.get("a")).toBe(1);
    expect(lru.get("c")).toBe(3);
    expect(lru.size).toBe(2);
  });
});

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => (resolve = done));
  return { promise, resolve };
}

describe("LoadingCache", () => {
  function setup(ttlMs = 1_000) {
    let clock = 0;
    const loads: string[] = [];
    const pending: { key: string; resolve: (value: string) => void }[] = [];
    const cache = new LoadingCache<string>({
      ttlMs,
      maxEntries: 10,
      now: () => clock,
      load: (key) => {
        loads.push(key);
        const { promise, resolve } = deferred<string>();
        pending.push({ key, resolve });
        return promise;
      },
    });
    return { cache, loads, pending, advance: (ms: number) => (clock += ms) };
  }

  it("shares one load between concurrent misses and serves hits until the TTL passes", async () => {
    const { cache, loads, pending, advance } = setup();
    const both = Promise.all([cache.get("u"), cache.get("u")]);
    pending[0]!.resolve("v1");
    expect(await both).toEqual(["v1", "v1"]);
    expect(await cache.get("u")).toBe("v1");
    expect(loads).toEqual(["u"]);
    advance(1_000);
    const reload = cache.get("u");
    pending[1]!.resolve("v2");
    expect(await reload).toBe("v2");
    expect(loads).toEqual(["u", "u"]);
  });

  it("does not store a value whose load was overtaken by an invalidation", async () => {
    const { cache, loads, pending } = setup();
    const stale = cache.get("u");
    cache.invalidate("u");
    pending[0]!.resolve("old");
    expect(await stale).toBe("old");
    const fresh = cache.get("u");
    pending[1]!.resolve("new");
    expect(await fresh).toBe("new");
    expect(await cache.get("u")).toBe("new");
    expect(loads).toEqual(["u", "u"]);
  });

  it("does not cache failures", async () => {
    let attempts = 0;
    const cache = new LoadingCache<string>({
      ttlMs: 1_000,
      maxEntries: 10,
      now: () => 0,
      load: async () => {
        attempts += 1;
        if (attempts === 1) throw new Error("database down");
        return "ok";
      },
    });
    await expect(cache.get("u")).rejects.toThrow("database down");
    expect(await cache.get("u")).toBe("ok");
  });
});

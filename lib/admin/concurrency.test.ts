import { describe, expect, it } from "vitest";
import { runWithConcurrency } from "./concurrency";

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("runWithConcurrency", () => {
  it("runs every item once, never more than the limit at a time, starting them in order", async () => {
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const done: number[] = [];
    const result = await runWithConcurrency(Array.from({ length: 23 }, (_, index) => index), 4, async (item) => {
      started.push(item);
      running++;
      peak = Math.max(peak, running);
      await tick(1 + ((item * 7) % 5));
      running--;
      done.push(item);
    });
    expect(result.skipped).toEqual([]);
    expect(peak).toBe(4);
    expect(started).toEqual(Array.from({ length: 23 }, (_, index) => index));
    expect([...done].sort((a, b) => a - b)).toEqual(started);
  });

  it("stops starting items once asked, lets the running ones finish, and reports the rest as skipped", async () => {
    let stop = false;
    const finished: number[] = [];
    const result = await runWithConcurrency([0, 1, 2, 3, 4, 5, 6, 7], 3, async (item) => {
      if (item === 4) stop = true;
      await tick(5);
      finished.push(item);
    }, () => stop);
    expect([...finished].sort()).toEqual([0, 1, 2, 3, 4]);
    expect(result.skipped).toEqual([5, 6, 7]);
  });

  it("handles fewer items than the limit, and none", async () => {
    const seen: string[] = [];
    await runWithConcurrency(["a", "b"], 10, async (item) => void seen.push(item));
    expect(seen).toEqual(["a", "b"]);
    expect(await runWithConcurrency([], 4, async () => {})).toEqual({ skipped: [] });
  });

  it("rethrows a thrown error only after every started item settled", async () => {
    const finished: number[] = [];
    const error = await runWithConcurrency([0, 1, 2], 3, async (item) => {
      if (item === 0) throw new Error("boom");
      await tick(5);
      finished.push(item);
    }).catch((caught: unknown) => caught);
    expect((error as Error).message).toBe("boom");
    expect(finished.sort()).toEqual([1, 2]);
  });
});

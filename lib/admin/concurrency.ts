/**
 * Runs `work` on every item with at most `limit` running at once, starting items in order. `work`
 * should not throw (report failures as values); if it does, that item's error is rethrown after
 * the others have settled. When `shouldStop()` turns true, no further item is started, the ones
 * already running finish, and the rest are left untouched (their indexes are returned as `skipped`).
 */
export async function runWithConcurrency<T>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<void>,
  shouldStop: () => boolean = () => false,
): Promise<{ skipped: number[] }> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !shouldStop()) {
      const index = next++;
      try {
        await work(items[index]!, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.error;
  return { skipped: Array.from({ length: items.length - next }, (_, offset) => next + offset) };
}

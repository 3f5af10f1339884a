/** Small numeric helpers for the server benchmark. */

/** The `p`-quantile (0..1) of `values` by nearest rank; NaN when empty. Sorts a copy. */
export const percentile = (values: ArrayLike<number>, p: number): number => {
  if (values.length === 0) return Number.NaN
  const sorted = Float64Array.from(values).sort()
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))
  return sorted[rank] ?? Number.NaN
}

/** The median of `values`; NaN when empty. */
export const median = (values: ArrayLike<number>): number => percentile(values, 0.5)

/** Resolves after `ms` (pacing and settling only; never used to wait for a result). */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Polls `done` every `everyMs` until it returns true or `timeoutMs` passes. Resolves with whether it finished,
 * so that every wait in the benchmark is bounded.
 */
export const waitUntil = async (done: () => boolean, timeoutMs: number, everyMs = 10): Promise<boolean> => {
  const deadline = performance.now() + timeoutMs
  while (!done()) {
    if (performance.now() > deadline) return false
    await sleep(everyMs)
  }
  return true
}

/** Runs `tasks` with at most `limit` in flight; resolves with their results in order. */
export const inBatches = async <T>(
  count: number,
  limit: number,
  task: (i: number) => Promise<T>,
): Promise<T[]> => {
  const out: T[] = new Array<T>(count)
  let next = 0
  const worker = async () => {
    for (let i = next++; i < count; i = next++) out[i] = await task(i)
  }
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker))
  return out
}

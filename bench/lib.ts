/**
 * A tiny benchmark harness. Every figure is reported as a ratio against a baseline measured in the same run,
 * because these machines are noisy: absolute numbers are printed for context only.
 */
import { performance } from 'node:perf_hooks'

export interface Timing {
  /** Median of the runs, in milliseconds. */
  readonly medianMs: number
  readonly runs: number[]
}

/** Runs `fn` `warmup` times untimed, then `runs` times timed; returns the median. */
export const time = async (fn: () => unknown | Promise<unknown>, runs = 5, warmup = 1): Promise<Timing> => {
  for (let i = 0; i < warmup; i++) await fn()
  const samples: number[] = []
  for (let i = 0; i < runs; i++) {
    const start = performance.now()
    await fn()
    samples.push(performance.now() - start)
  }
  const sorted = [...samples].sort((a, b) => a - b)
  return { medianMs: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN, runs: samples }
}

/**
 * Runs `a` and `b` alternately (ABAB...) so that drifting machine load hits both alike; returns both medians.
 */
export const timePair = async (
  a: () => unknown | Promise<unknown>,
  b: () => unknown | Promise<unknown>,
  runs = 5,
): Promise<{ a: Timing; b: Timing }> => {
  await a()
  await b()
  const as: number[] = []
  const bs: number[] = []
  for (let i = 0; i < runs; i++) {
    gc()
    let t = performance.now()
    await a()
    as.push(performance.now() - t)
    gc()
    t = performance.now()
    await b()
    bs.push(performance.now() - t)
  }
  const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? Number.NaN
  return { a: { medianMs: med(as), runs: as }, b: { medianMs: med(bs), runs: bs } }
}

/** Collects garbage before a timed run when node runs with --expose-gc (npm run bench does), so that one
 * side's garbage is not collected during the other side's run. */
const gc = (): void => {
  ;(globalThis as { gc?: () => void }).gc?.()
}

/** One line of a benchmark report. */
export interface Row {
  readonly bench: string
  readonly metric: string
  /** Weft's figure. */
  readonly value: number
  /** The baseline's figure, measured in the same run. */
  readonly baseline: number
  readonly baselineName: string
  readonly unit: string
  /** The target ratio (value / baseline) the issue sets, if any; lower is better. */
  readonly target?: number
}

const fmt = (n: number): string =>
  Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 1 ? n.toFixed(2) : n.toPrecision(3)

/** Prints rows as a table with the ratio column; marks rows over their target. Returns whether all met target. */
export const report = (rows: readonly Row[]): boolean => {
  let ok = true
  for (const r of rows) {
    const ratio = r.value / r.baseline
    const verdict =
      r.target === undefined
        ? ''
        : ratio <= r.target
          ? `  (target <= ${r.target}x: met)`
          : `  (target <= ${r.target}x: MISSED)`
    if (r.target !== undefined && ratio > r.target) ok = false
    console.log(
      `${r.bench} | ${r.metric}: ${fmt(r.value)} ${r.unit} vs ${r.baselineName} ${fmt(r.baseline)} ${r.unit} = ${ratio.toFixed(2)}x${verdict}`,
    )
  }
  return ok
}

/** A benchmark module's default export. */
export type Bench = () => Promise<readonly Row[]>

/** The `--scale <x>` (or `--scale=<x>`) argument of a benchmark run, in (0, 1]; 1 without it. */
export const scaleArg = (): number => {
  const argv = process.argv
  const i = argv.findIndex((a) => a === '--scale' || a.startsWith('--scale='))
  if (i < 0) return 1
  const v = argv[i]?.includes('=') ? argv[i]?.split('=')[1] : argv[i + 1]
  const n = Number(v)
  if (!(n > 0 && n <= 1)) throw new Error(`--scale takes a number in (0, 1], got ${v}`)
  return n
}

/**
 * Summarizes a server's V8 optimization trace (`jit-<server>-<pid>.log`, written by `WEFT_BENCH_PROFILE=jit`, see
 * bench/server/measuredWindow.ts): before, during and after the measured window, how many functions the optimizing
 * compiler finished and how long its jobs took (V8's own three phase times, wall clock: on a loaded machine they
 * include waiting for a CPU), and which functions were deoptimized, and why; over the whole trace, the functions
 * optimized more than once (a deoptimize-reoptimize loop shows there).
 *
 * `node --import tsx bench/server/jitSummary.ts <jit-....log> [top=20]`
 */
import { readFileSync } from 'node:fs'
import { JIT_WINDOW_END, JIT_WINDOW_START } from './measuredWindow.js'

/** One phase of a trace: before the window, the window, after it. */
export interface JitPhase {
  /** Optimizations V8 completed (TurboFan jobs, on-stack replacement included). */
  readonly compiled: number
  /** The sum of their phase times, in ms. */
  readonly compileMs: number
  /** Compile ms by function name. */
  readonly byFunction: ReadonlyMap<string, number>
  /** Deoptimizations, `function: kind, reason` with their count. */
  readonly deopts: ReadonlyMap<string, number>
}

/** A trace, by phase; `optimizedTimes`: how often each function was optimized over the whole trace. */
export interface JitSummary {
  readonly before: JitPhase
  readonly window: JitPhase
  readonly after: JitPhase
  readonly optimizedTimes: ReadonlyMap<string, number>
  /** Whether both window markers were found (else everything counts as `before`). */
  readonly marked: boolean
}

// Concurrent compile jobs print from another thread: one line may hold the end of one message and a whole other.
const COMPILED =
  /\[completed compiling 0x[0-9a-f]+ <JSFunction (?:(.*?) )?\(sfi[^>]*> \(target [A-Z]+\)(?: OSR)? - took ([0-9.]+), ([0-9.]+), ([0-9.]+) ms\]/g
const DEOPT =
  /\[bailout \(kind: ([^,]+), reason: ([^)]*\)?)\): begin\. deoptimizing 0x[0-9a-f]+ <JSFunction (?:(.*?) )?\(sfi/g

const add = <K>(map: Map<K, number>, key: K, n: number) => map.set(key, (map.get(key) ?? 0) + n)

/** Reads a trace's text. */
export const summarizeJit = (text: string): JitSummary => {
  const phase0 = (): JitPhase & { compiled: number; compileMs: number } => ({
    compiled: 0,
    compileMs: 0,
    byFunction: new Map<string, number>(),
    deopts: new Map<string, number>(),
  })
  const phases = [phase0(), phase0(), phase0()] as const
  const optimizedTimes = new Map<string, number>()
  let phase = 0
  let starts = 0
  let ends = 0
  for (const line of text.split('\n')) {
    if (line.includes(JIT_WINDOW_START)) {
      phase = 1
      starts++
    }
    if (line.includes(JIT_WINDOW_END)) {
      phase = 2
      ends++
    }
    const p = phases[phase as 0 | 1 | 2]
    for (const m of line.matchAll(COMPILED)) {
      const name = m[1] || '(anonymous)'
      const ms = Number(m[2]) + Number(m[3]) + Number(m[4])
      p.compiled++
      p.compileMs += ms
      add(p.byFunction as Map<string, number>, name, ms)
      add(optimizedTimes, name, 1)
    }
    for (const m of line.matchAll(DEOPT))
      add(p.deopts as Map<string, number>, `${m[3] || '(anonymous)'}: ${m[1]}, ${m[2]}`, 1)
  }
  const [before, window, after] = phases
  return { before, window, after, optimizedTimes, marked: starts > 0 && ends > 0 }
}

const top = <K>(map: ReadonlyMap<K, number>, n: number) => [...map].sort((a, b) => b[1] - a[1]).slice(0, n)

const main = () => {
  const [file, n = '20'] = process.argv.slice(2)
  if (!file) throw new Error('usage: jitSummary.ts <jit-....log> [top=20]')
  const s = summarizeJit(readFileSync(file, 'utf8'))
  const count = Number(n)
  console.log(`${file}${s.marked ? '' : ' (no window markers: everything counted as before)'}`)
  for (const [label, p] of [
    ['before the window', s.before],
    ['measured window', s.window],
    ['after the window', s.after],
  ] as const) {
    const deopts = [...p.deopts.values()].reduce((a, b) => a + b, 0)
    console.log(
      `${label}: ${p.compiled} optimized, ${p.compileMs.toFixed(1)} ms of compile jobs, ${deopts} deopts`,
    )
  }
  console.log('window, compile ms by function:')
  for (const [name, ms] of top(s.window.byFunction, count))
    console.log(`  ${ms.toFixed(1).padStart(8)}  ${name}`)
  console.log('window, deoptimizations:')
  for (const [what, times] of top(s.window.deopts, count))
    console.log(`  ${String(times).padStart(4)}  ${what}`)
  console.log('optimized more than once (whole trace):')
  for (const [name, times] of top(s.optimizedTimes, count))
    if (times > 1) console.log(`  ${String(times).padStart(4)}  ${name}`)
}

if (import.meta.url === `file://${process.argv[1]}`) main()

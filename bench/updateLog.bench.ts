/**
 * The relay's in-memory log at depth (issue 13, "Relay CPU per update"): the CPU of `UpdateLog.append` for a room
 * that receives many updates with no reader in between (no joiner, no compaction: the fan-out's steady state), and the
 * longest single append (the event loop is blocked that long, for every room). Baseline, in the same process and
 * alternated with it: the policy the log had until the fifth pass, kept here as a reference only: hold up to 256
 * parts, then merge everything after the base (the previous merges included) with the new update. At 256 appends
 * neither merges (the first merge of both comes with the 257th part): that row is the control, without a target.
 *
 * Updates: `WRITERS` clients that see each other's edits each set a new key of a map (a number), as the server
 * benchmark's fan-out clients do. Depths: `WEFT_BENCH_UPDATELOG_DEPTHS` (comma-separated, default 256,2000,10000
 * updates appended to one log); `WEFT_BENCH_UPDATELOG_RUNS` timed runs per depth (default 5, median).
 *
 * `npm run bench -- updateLog`
 */
import { performance } from 'node:perf_hooks'
import * as Y from 'yjs'
import { UpdateLog } from '../signaling/src/relay/UpdateLog.js'
import { mergeUpdatesBatched } from '../signaling/src/relay/mergeUpdatesBatched.js'
import type { Bench, Row } from './lib.js'

const WRITERS = 10
const DEPTHS = (process.env['WEFT_BENCH_UPDATELOG_DEPTHS'] ?? '256,2000,10000').split(',').map(Number)
const RUNS = Number(process.env['WEFT_BENCH_UPDATELOG_RUNS'] ?? 5)
const BASELINE = 'the former 256-part bound'

/** `n` updates of `WRITERS` writers, each setting a new key of one map, every writer applying the others'. */
const edits = (n: number): Uint8Array[] => {
  const docs = Array.from({ length: WRITERS }, () => new Y.Doc())
  const out: Uint8Array[] = []
  for (const doc of docs)
    doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin === 'peer') return
      out.push(update)
      for (const other of docs) if (other !== doc) Y.applyUpdate(other, update, 'peer')
    })
  for (let i = 0; i < n; i++)
    (docs[i % WRITERS] as Y.Doc).getMap<number>('lat').set(`c${i % WRITERS}:${i}`, i)
  return out
}

/** The reference: the log's policy before the fifth pass (up to 256 parts, then the whole tail merged again). */
class FormerBound {
  #parts: Uint8Array[] = []
  append(update: Uint8Array): void {
    if (this.#parts.length >= 256) {
      const [base, ...tail] = this.#parts
      this.#parts = [base as Uint8Array, mergeUpdatesBatched([...tail, update])]
    } else this.#parts.push(update)
  }
}

interface Run {
  /** CPU (user + system) per append, µs. */
  readonly cpuPerAppendUs: number
  /** The longest single append, ms (wall). */
  readonly worstMs: number
}

const run = (log: { append(u: Uint8Array): unknown }, updates: readonly Uint8Array[]): Run => {
  let worst = 0
  const cpu = process.cpuUsage()
  for (const update of updates) {
    const t = performance.now()
    log.append(update)
    worst = Math.max(worst, performance.now() - t)
  }
  const used = process.cpuUsage(cpu)
  return { cpuPerAppendUs: (used.user + used.system) / updates.length, worstMs: worst }
}

const gc = (): void => (globalThis as { gc?: () => void }).gc?.()
const median = (xs: readonly number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN

const bench: Bench = async () => {
  const rows: Row[] = []
  // Untimed runs of both first, so that neither pays Yjs's merge code being compiled (docs/architecture.md).
  const warmup = edits(1000)
  for (let i = 0; i < 3; i++) {
    run(new UpdateLog([]), warmup)
    run(new FormerBound(), warmup)
  }
  for (const depth of DEPTHS) {
    const updates = edits(depth)
    const weft: Run[] = []
    const former: Run[] = []
    // Alternated, so that the machine's load hits both alike.
    for (let i = 0; i < RUNS; i++) {
      gc()
      weft.push(run(new UpdateLog([]), updates))
      gc()
      former.push(run(new FormerBound(), updates))
    }
    const name = `UpdateLog, ${depth} appends by ${WRITERS} writers (no reader), median of ${RUNS}`
    rows.push(
      {
        bench: name,
        metric: 'CPU per append',
        value: median(weft.map((r) => r.cpuPerAppendUs)),
        baseline: median(former.map((r) => r.cpuPerAppendUs)),
        baselineName: BASELINE,
        unit: 'us',
        ...(depth > 256 ? { target: 1 } : {}),
      },
      {
        bench: name,
        metric: 'longest append',
        value: median(weft.map((r) => r.worstMs)),
        baseline: median(former.map((r) => r.worstMs)),
        baselineName: BASELINE,
        unit: 'ms',
        ...(depth > 256 ? { target: 1 } : {}),
      },
    )
  }
  return Promise.resolve(rows)
}

export default bench

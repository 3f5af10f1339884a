/**
 * Entry point of one joiner process of the join storm (scenarios/joinStorm.ts): loads the client library, prints
 * `{"type":"ready"}`, and on the line `go` on stdin creates its `count` stock clients in the same tick. Each joiner
 * checks its text length once synced and drops its copy at once. Prints `{"type":"done",...}` with each joiner's
 * synced time (`performance.timeOrigin + performance.now()`, comparable across processes on one machine) when all
 * are synced, or after `timeoutMs`.
 */
import { createInterface } from 'node:readline'
import { connectClient, prepareClients, tallyCloses, type BenchClient, type Target } from './connectClient.js'
import { waitUntil } from './stats.js'

/** What the storm asks of one joiner process. */
export interface JoinerJob {
  readonly target: Target
  readonly room: string
  readonly count: number
  /** The text length every joiner must have once synced. */
  readonly length: number
  readonly timeoutMs: number
}

/** The joiner process's answer. */
export interface JoinerReport {
  readonly type: 'done'
  /** Absolute synced times (ms) of the joiners that synced with the whole text. */
  readonly syncedAt: readonly number[]
  /** Joiners that synced with less than the whole text. */
  readonly short: number
  readonly unexpectedCloses: Record<string, number>
  readonly cpuSeconds: number
  /** Payload bytes the joiners received until synced, in total. */
  readonly bytes: number
}

const out = (line: unknown) =>
  new Promise<void>((resolve) => process.stdout.write(`${JSON.stringify(line)}\n`, () => resolve()))

process.setMaxListeners(0)

const job = JSON.parse(process.argv[2] ?? '') as JoinerJob
await prepareClients(job.target)
const cpu0 = process.cpuUsage()
await out({ type: 'ready' })
await new Promise<void>((resolve) => {
  const lines = createInterface({ input: process.stdin })
  lines.on('line', (line) => {
    if (line.trim() === 'go') {
      lines.close()
      resolve()
    }
  })
})
const clients: BenchClient[] = []
const syncedAt: number[] = []
let short = 0
let done = 0
let bytes = 0
for (let i = 0; i < job.count; i++) {
  const joiner = connectClient(job.target, job.room)
  clients.push(joiner)
  void joiner.synced.then(() => {
    const at = performance.timeOrigin + performance.now()
    if (joiner.doc.getText('t').length >= job.length) syncedAt.push(at)
    else short++
    bytes += joiner.bytesReceived()
    done++
    joiner.destroy()
  })
}
await waitUntil(() => done >= job.count, job.timeoutMs, 5)
const cpu = process.cpuUsage(cpu0)
const report: JoinerReport = {
  type: 'done',
  syncedAt,
  short,
  unexpectedCloses: tallyCloses(clients),
  cpuSeconds: (cpu.user + cpu.system) / 1e6,
  bytes,
}
await out(report)
for (const c of clients) c.destroy()
process.exit(0)

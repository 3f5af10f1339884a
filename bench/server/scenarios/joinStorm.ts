/**
 * (d) Join storm: a writer fills one room with a large document (`megabytes` of text pasted in 8 KiB blocks at
 * random positions, sent in messages of 64 blocks), a watcher confirms the server holds all of it, then
 * `clients` fresh clients join at once. Measured: the time until the last of them is synced, and the server's
 * peak RSS during the storm (the kernel's VmHWM after resetting it, and 20 ms polling as a check). Each joiner
 * checks its text length and drops its copy as soon as it is synced.
 *
 * The joiners are spread evenly over `processes` joiner processes (bench/server/stormJoiners.ts), identically for
 * every server: receiving and applying 50 copies of a 20 MB document in one client process takes that process
 * longer than any of the servers needs to send them, which would hide the servers' differences. The processes are
 * started and have loaded their client library before the clock starts; one `go` line starts all of them, and
 * synced times are absolute (`performance.timeOrigin + performance.now()`), so they compare across processes.
 */
import { createInterface } from 'node:readline'
import * as Y from 'yjs'
import type { StormSizes } from '../config.js'
import { connectClient, tallyCloses, type BenchClient, type Target } from '../connectClient.js'
import { cpuSeconds, peakRssBytes, resetPeakRss, rssBytes, watchPeakRss } from '../procStats.js'
import { spawnNode } from '../ServerProcess.js'
import { sleep, waitUntil } from '../stats.js'
import type { JoinerJob, JoinerReport } from '../stormJoiners.js'

/** Outcome of {@link joinStorm}. */
export interface StormResult {
  readonly clients: number
  readonly synced: number
  readonly docBytes: number
  readonly allSyncedMs: number
  /** When the first joiner was synced (context: how the answers were spread over time). */
  readonly firstSyncedMs: number
  readonly rssBeforeBytes: number
  readonly peakRssBytes: number
  /** Whether the peak is the kernel's (reset before the storm) or only polled. */
  readonly peakFromKernel: boolean
  readonly serverCpuSeconds: number
  /** Joiner processes, and their CPU seconds in total. */
  readonly processes: number
  readonly joinerCpuSeconds: number
  /** Payload bytes sent to each joiner until it was synced (mean). */
  readonly bytesPerJoiner: number
  /** Unexpected connection closes by close code. */
  readonly unexpectedCloses: Record<string, number>
}

const BLOCK = 8192
const BLOCKS_PER_MESSAGE = 64

/** The large document, as one update per message. Deterministic. */
export const largeDocUpdates = (megabytes: number): { updates: Uint8Array[]; length: number } => {
  const doc = new Y.Doc()
  const text = doc.getText('t')
  const updates: Uint8Array[] = []
  let pending: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => pending.push(u))
  let x = 42
  const rnd = (n: number) => ((x = (x * 1103515245 + 12345) & 0x7fffffff), x % Math.max(1, n))
  const blocks = Math.max(1, Math.round((megabytes * 1e6) / BLOCK))
  for (let i = 0; i < blocks; i++) {
    const c = String.fromCharCode(97 + (i % 26))
    text.insert(rnd(text.length + 1), c.repeat(BLOCK))
    if ((i + 1) % BLOCKS_PER_MESSAGE === 0 || i === blocks - 1) {
      updates.push(Y.mergeUpdates(pending))
      pending = []
    }
  }
  return { updates, length: text.length }
}

/** Runs the join storm against `target` (server process `serverPid`). */
export const joinStorm = async (
  target: Target,
  serverPid: number,
  sizes: StormSizes,
): Promise<StormResult> => {
  const { updates, length } = largeDocUpdates(sizes.megabytes)
  const docBytes = updates.reduce((n, u) => n + u.byteLength, 0)
  const clients: BenchClient[] = []
  try {
    const writer = connectClient(target, 'storm')
    const watcher = connectClient(target, 'storm')
    clients.push(writer, watcher)
    const ready = await Promise.race([
      Promise.all([writer.synced, watcher.synced]).then(() => true),
      sleep(30_000).then(() => false),
    ])
    if (!ready) throw new Error('writer did not sync in 30 s')
    for (const u of updates) {
      Y.applyUpdate(writer.doc, u)
      await sleep(5)
    }
    const marks = writer.doc.getMap<number>('mark')
    marks.set('k', 1)
    const seen = watcher.doc.getMap<number>('mark')
    if (!(await waitUntil(() => seen.get('k') === 1, 120_000, 5)))
      throw new Error('the document was not relayed in 120 s')
    if (watcher.doc.getText('t').length !== length) throw new Error('the watcher got a different document')
    // Give the servers a moment to finish background work of the upload (Weft: group commit, compaction).
    await sleep(1500)
    const joiners = await startJoiners(target, sizes, length)
    const rssBefore = rssBytes(serverPid)
    const peakFromKernel = resetPeakRss(serverPid)
    const poll = watchPeakRss(serverPid)
    const cpu0 = cpuSeconds(serverPid)
    const t0 = performance.timeOrigin + performance.now()
    const reports = await joiners.go()
    const polled = poll.stop()
    const serverCpu = cpuSeconds(serverPid) - cpu0
    const peak = Math.max(polled, peakFromKernel ? peakRssBytes(serverPid) : 0)
    const syncedAt = reports.flatMap((r) => r.syncedAt)
    const short = reports.reduce((n, r) => n + r.short, 0)
    if (short > 0) process.stderr.write(`storm: ${short} joiners synced with less than the whole text\n`)
    const complete = syncedAt.length >= sizes.clients
    if (!complete) process.stderr.write(`storm: only ${syncedAt.length} of ${sizes.clients} joiners synced\n`)
    const closes = tallyCloses(clients)
    for (const r of reports) {
      for (const [code, n] of Object.entries(r.unexpectedCloses)) closes[code] = (closes[code] ?? 0) + n
    }
    return {
      clients: sizes.clients,
      synced: syncedAt.length,
      docBytes,
      allSyncedMs: complete ? Math.max(...syncedAt) - t0 : Number.NaN,
      firstSyncedMs: syncedAt.length > 0 ? Math.min(...syncedAt) - t0 : Number.NaN,
      rssBeforeBytes: rssBefore,
      peakRssBytes: peak,
      peakFromKernel,
      serverCpuSeconds: serverCpu,
      processes: reports.length,
      joinerCpuSeconds: reports.reduce((n, r) => n + r.cpuSeconds, 0),
      bytesPerJoiner: reports.reduce((n, r) => n + r.bytes, 0) / sizes.clients,
      unexpectedCloses: closes,
    }
  } finally {
    for (const c of clients) c.destroy()
  }
}

/** Time allowed for all joiners to sync. */
const STORM_TIMEOUT_MS = 180_000

/**
 * Starts the joiner processes (clients spread evenly) and waits until each has loaded its client library.
 * `go()` starts all of them and resolves with their reports.
 */
const startJoiners = async (
  target: Target,
  sizes: StormSizes,
  length: number,
): Promise<{ go(): Promise<JoinerReport[]> }> => {
  const processes = Math.max(1, Math.min(sizes.processes, sizes.clients))
  const children = Array.from({ length: processes }, (_, p) => {
    const count = Math.floor(sizes.clients / processes) + (p < sizes.clients % processes ? 1 : 0)
    const job: JoinerJob = { target, room: 'storm', count, length, timeoutMs: STORM_TIMEOUT_MS }
    const child = spawnNode([
      '--max-old-space-size=8192',
      '--import',
      'tsx',
      'bench/server/stormJoiners.ts',
      JSON.stringify(job),
    ])
    const lines = createInterface({ input: child.stdout ?? process.stdin })
    const next = (type: string) =>
      new Promise<JoinerReport | null>((resolve, reject) => {
        const onLine = (line: string) => {
          let msg: { type?: string }
          try {
            msg = JSON.parse(line) as { type?: string }
          } catch {
            return
          }
          if (msg.type !== type) return
          lines.off('line', onLine)
          resolve(type === 'done' ? (msg as JoinerReport) : null)
        }
        lines.on('line', onLine)
        child.once('exit', (code) => reject(new Error(`joiner process exited (${code}) before "${type}"`)))
      })
    return { child, ready: next('ready'), next }
  })
  try {
    await Promise.all(children.map((c) => c.ready))
  } catch (err) {
    for (const c of children) c.child.kill('SIGKILL')
    throw err
  }
  return {
    go: async () => {
      const done = children.map((c) => c.next('done'))
      for (const c of children) c.child.stdin?.write('go\n')
      try {
        return (await Promise.all(done)) as JoinerReport[]
      } finally {
        for (const c of children) c.child.kill('SIGKILL')
      }
    },
  }
}

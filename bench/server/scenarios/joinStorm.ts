/**
 * (d) Join storm: a writer fills one room with a large document (`megabytes` of text pasted in 8 KiB blocks at
 * random positions, sent in messages of 64 blocks), a watcher confirms the server holds all of it, then
 * `clients` fresh clients are created in the same tick. Measured: the time until the last of them is synced, and
 * the server's peak RSS during the storm (the kernel's VmHWM after resetting it, and 20 ms polling as a check).
 * Each joiner checks its text length and drops its copy as soon as it is synced, to keep this process small.
 */
import * as Y from 'yjs'
import type { StormSizes } from '../config.js'
import { connectClient, tallyCloses, type BenchClient, type Target } from '../connectClient.js'
import { cpuSeconds, peakRssBytes, resetPeakRss, rssBytes, watchPeakRss } from '../procStats.js'
import { sleep, waitUntil } from '../stats.js'

/** Outcome of {@link joinStorm}. */
export interface StormResult {
  readonly clients: number
  readonly synced: number
  readonly docBytes: number
  readonly allSyncedMs: number
  readonly rssBeforeBytes: number
  readonly peakRssBytes: number
  /** Whether the peak is the kernel's (reset before the storm) or only polled. */
  readonly peakFromKernel: boolean
  readonly serverCpuSeconds: number
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
    const rssBefore = rssBytes(serverPid)
    const peakFromKernel = resetPeakRss(serverPid)
    const poll = watchPeakRss(serverPid)
    const cpu0 = cpuSeconds(serverPid)
    const t0 = performance.now()
    let synced = 0
    let last = t0
    const joiners: BenchClient[] = []
    for (let i = 0; i < sizes.clients; i++) {
      const joiner = connectClient(target, 'storm')
      joiners.push(joiner)
      clients.push(joiner)
      void joiner.synced.then(() => {
        last = performance.now()
        if (joiner.doc.getText('t').length >= length) synced++
        else
          process.stderr.write(
            `storm: joiner ${i} synced with ${joiner.doc.getText('t').length} of ${length}\n`,
          )
        joiner.destroy()
      })
    }
    const complete = await waitUntil(() => synced >= sizes.clients, 180_000, 5)
    const polled = poll.stop()
    const serverCpu = cpuSeconds(serverPid) - cpu0
    const peak = Math.max(polled, peakFromKernel ? peakRssBytes(serverPid) : 0)
    if (!complete) process.stderr.write(`storm: only ${synced} of ${sizes.clients} joiners synced\n`)
    return {
      clients: sizes.clients,
      synced,
      docBytes,
      allSyncedMs: complete ? last - t0 : Number.NaN,
      rssBeforeBytes: rssBefore,
      peakRssBytes: peak,
      peakFromKernel,
      serverCpuSeconds: serverCpu,
      unexpectedCloses: tallyCloses(clients),
    }
  } finally {
    for (const c of clients) c.destroy()
  }
}

/**
 * (b) Idle connections: `connections` clients spread round-robin over `rooms` rooms, connected 100 at a time; each
 * syncs and announces its (empty) presence, then nothing happens. Server memory per connection = (RSS once all are
 * connected and settled - RSS before) / connections, RSS read from /proc as the median of a few samples. Then the
 * server's CPU over an idle window (`idleWindowMs`): the cost of the heartbeat and of presence renewals.
 */
import type { IdleSizes } from '../config.js'
import { connectClient, tallyCloses, type BenchClient, type Target } from '../connectClient.js'
import { cpuSeconds, rssBytes } from '../procStats.js'
import { inBatches, median, sleep } from '../stats.js'

/** Outcome of {@link idleConnections}. */
export interface IdleResult {
  readonly connections: number
  readonly synced: number
  readonly rssBeforeBytes: number
  readonly rssAfterBytes: number
  readonly perConnectionBytes: number
  readonly connectSeconds: number
  readonly connectCpuSeconds: number
  /**
   * Server CPU while the connections sit idle, in percent of one core, over `idleWindowMs` once settled: what the
   * heartbeat (Weft pings a connection silent for half its 5 s timeout) and the stock clients' presence renewals
   * (every 15 s) cost.
   */
  readonly idleCpuPercent: number
  readonly idleWindowSeconds: number
  /** Unexpected connection closes by close code. */
  readonly unexpectedCloses: Record<string, number>
}

const sampleRss = async (pid: number, samples: number, everyMs: number): Promise<number> => {
  const values: number[] = []
  for (let i = 0; i < samples; i++) {
    if (i > 0) await sleep(everyMs)
    values.push(rssBytes(pid))
  }
  return median(values)
}

/** Runs the idle-connections workload against `target` (server process `serverPid`). */
export const idleConnections = async (
  target: Target,
  serverPid: number,
  sizes: IdleSizes,
): Promise<IdleResult> => {
  const { connections, rooms } = sizes
  const clients: BenchClient[] = []
  try {
    const before = await sampleRss(serverPid, 5, 200)
    const cpu0 = cpuSeconds(serverPid)
    const t0 = performance.now()
    const deadline = t0 + 180_000
    let synced = 0
    await inBatches(connections, 100, async (i) => {
      if (performance.now() > deadline) return
      const client = connectClient(target, `idle-${i % rooms}`)
      clients[i] = client
      const ok = await Promise.race([client.synced.then(() => true), sleep(30_000).then(() => false)])
      if (ok) synced++
    })
    const connectSeconds = (performance.now() - t0) / 1000
    const connectCpuSeconds = cpuSeconds(serverPid) - cpu0
    await sleep(3000)
    const after = await sampleRss(serverPid, 5, 400)
    const idle0 = cpuSeconds(serverPid)
    const idleT0 = performance.now()
    await sleep(sizes.idleWindowMs)
    const idleWindowSeconds = (performance.now() - idleT0) / 1000
    const idleCpuPercent = ((cpuSeconds(serverPid) - idle0) / idleWindowSeconds) * 100
    return {
      connections,
      synced,
      rssBeforeBytes: before,
      rssAfterBytes: after,
      perConnectionBytes: (after - before) / connections,
      connectSeconds,
      connectCpuSeconds,
      idleCpuPercent,
      idleWindowSeconds,
      unexpectedCloses: tallyCloses(clients),
    }
  } finally {
    for (const c of clients) c?.destroy()
  }
}

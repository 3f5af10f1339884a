/**
 * (a) Fan-out: `rooms` x `clientsPerRoom` clients; once all are synced, every client sets `edits` keys of a Y.Map
 * to its send time (`performance.now()`, one clock for all clients in this process), one every `intervalMs`, with
 * random phases. Receivers record now - send time for every remote key. Server CPU is read from /proc over the
 * editing phase (until every update was delivered, plus a short settle) and divided by the deliveries.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type * as Y from 'yjs'
import type { FanOutSizes } from '../config.js'
import { connectClient, tallyCloses, type BenchClient, type Target } from '../connectClient.js'
import { startWindowProbe } from '../measuredWindow.js'
import { cpuTimes } from '../procStats.js'
import { inBatches, percentile, sleep, waitUntil } from '../stats.js'

/** Outcome of {@link fanOut}. */
export interface FanOutResult {
  readonly clients: number
  readonly deliveries: number
  readonly expected: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly serverCpuSeconds: number
  /** The part of {@link FanOutResult.serverCpuSeconds} spent in the kernel (socket writes, loopback delivery). */
  readonly serverSystemSeconds: number
  /** The part of {@link FanOutResult.serverCpuSeconds} spent on the server's main thread (its event loop). */
  readonly serverMainThreadSeconds: number
  readonly cpuPerDeliveryUs: number
  readonly editSeconds: number
  /** Event-loop delay p99 of the client process while editing: high means the clients, not the server, lag. */
  readonly clientLoopDelayP99Ms: number
  /** Unexpected connection closes by close code. */
  readonly unexpectedCloses: Record<string, number>
}

/** Runs the fan-out workload against `target` (server process `serverPid`). */
export const fanOut = async (
  target: Target,
  serverPid: number,
  sizes: FanOutSizes,
): Promise<FanOutResult> => {
  const { rooms, clientsPerRoom, edits, intervalMs, warmupEdits } = sizes
  const total = rooms * clientsPerRoom
  const expected = total * edits * (clientsPerRoom - 1)
  const latencies = new Float64Array(expected)
  let deliveries = 0
  /** Deliveries of warm-up edits (keys starting with "w"), counted apart. */
  let warmed = 0
  const clients: BenchClient[] = []
  try {
    await inBatches(total, 50, async (i) => {
      const client = connectClient(target, `fanout-${i % rooms}`)
      clients[i] = client
      const map = client.doc.getMap<number>('lat')
      map.observe((event: Y.YMapEvent<number>) => {
        if (event.transaction.local) return
        const now = performance.now()
        for (const key of event.keysChanged) {
          if (key.startsWith('w')) {
            warmed++
            continue
          }
          const sent = map.get(key)
          if (typeof sent === 'number' && deliveries < expected) latencies[deliveries++] = now - sent
        }
      })
      const ok = await Promise.race([client.synced.then(() => true), sleep(60_000).then(() => false)])
      if (!ok) throw new Error(`client ${i} did not sync in 60 s`)
    })
    // Let the presence messages of the joins settle before measuring.
    await sleep(1500)
    if (warmupEdits > 0) {
      const timers = editAll(clients, warmupEdits, intervalMs, 'w')
      const warm = total * warmupEdits * (clientsPerRoom - 1)
      const done = await waitUntil(() => warmed >= warm, warmupEdits * intervalMs + 60_000)
      for (const t of timers) clearTimeout(t)
      if (!done) throw new Error(`fan-out warm-up: only ${warmed} of ${warm} deliveries arrived`)
      await sleep(500)
    }
    deliveries = 0
    const loop = monitorEventLoopDelay({ resolution: 10 })
    loop.enable()
    // WEFT_BENCH_PROFILE: a CPU profile or a system call count of the server over this window only.
    const probe = await startWindowProbe(target.kind, serverPid)
    const cpu0 = cpuTimes(serverPid)
    const main0 = cpuTimes(serverPid, serverPid)
    const t0 = performance.now()
    const timers = editAll(clients, edits, intervalMs, '')
    const complete = await waitUntil(() => deliveries >= expected, edits * intervalMs + 60_000)
    const editSeconds = (performance.now() - t0) / 1000
    for (const t of timers) clearTimeout(t)
    loop.disable()
    await sleep(300)
    const cpu1 = cpuTimes(serverPid)
    const main1 = cpuTimes(serverPid, serverPid)
    await probe.stop()
    const serverCpu = cpu1.user + cpu1.system - cpu0.user - cpu0.system
    if (!complete) process.stderr.write(`fan-out: only ${deliveries} of ${expected} deliveries arrived\n`)
    const got = latencies.subarray(0, deliveries)
    return {
      clients: total,
      deliveries,
      expected,
      p50Ms: percentile(got, 0.5),
      p99Ms: percentile(got, 0.99),
      serverCpuSeconds: serverCpu,
      serverSystemSeconds: cpu1.system - cpu0.system,
      serverMainThreadSeconds: main1.user + main1.system - main0.user - main0.system,
      cpuPerDeliveryUs: deliveries > 0 ? (serverCpu / deliveries) * 1e6 : Number.NaN,
      editSeconds,
      clientLoopDelayP99Ms: loop.percentile(99) / 1e6,
      unexpectedCloses: tallyCloses(clients),
    }
  } finally {
    for (const c of clients) c?.destroy()
  }
}

/**
 * Every client sets `edits` keys (`prefix` + client + ":" + n) to its send time, one every `intervalMs` from a random
 * phase. Returns the timers (to clear once done).
 */
const editAll = (
  clients: readonly BenchClient[],
  edits: number,
  intervalMs: number,
  prefix: string,
): NodeJS.Timeout[] => {
  const timers: NodeJS.Timeout[] = []
  clients.forEach((client, i) => {
    const map = client.doc.getMap<number>('lat')
    let sent = 0
    const send = () => {
      map.set(`${prefix}${i}:${sent}`, performance.now())
      if (++sent < edits) timers.push(setTimeout(send, intervalMs))
    }
    timers.push(setTimeout(send, Math.random() * intervalMs))
  })
  return timers
}

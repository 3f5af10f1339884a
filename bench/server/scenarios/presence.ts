/**
 * (e) Presence: `rooms` x `clientsPerRoom` stock y-websocket clients, awareness only (no document edits). Once all
 * are connected and settled, every client changes its presence (a cursor position) once every `intervalMs`, with
 * random phases, `updates` times. With `echo`, the clients behave exactly as y-websocket's `WebsocketProvider` does:
 * it re-sends every awareness change it receives, including the ones the server sent it (the provider's awareness
 * `update` handler does not look at the origin); without, each client sends only its own changes (as Weft's
 * providers do). Server CPU is read from /proc over the updating phase (until every change was seen by every other
 * client of its room, plus a short settle) and divided by the deliveries: updates x (clientsPerRoom - 1) observers.
 * With `warmupUpdates`, every client first makes that many changes the same way, awaited and not counted: a fresh
 * server otherwise JIT-compiles its presence path inside the measured window (a one-off cost per process; the
 * result's `serverMainThreadSeconds` tells the event loop's share from the compiler and GC threads').
 * `WEFT_BENCH_PROFILE=cpu` or `=strace` records the server over the measured window only (bench/server/measuredWindow.ts).
 */
import { WebSocket } from 'ws'
import type { Awareness } from 'y-protocols/awareness'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import type { PresenceSizes } from '../config.js'
import type { Target } from '../connectClient.js'
import { startWindowProbe } from '../measuredWindow.js'
import { cpuTimes } from '../procStats.js'
import { inBatches, sleep, waitUntil } from '../stats.js'

/** Outcome of {@link presence}. */
export interface PresenceResult {
  readonly clients: number
  readonly echo: boolean
  readonly deliveries: number
  readonly expected: number
  readonly serverCpuSeconds: number
  readonly serverSystemSeconds: number
  /**
   * CPU of the server's main thread (its event loop) over the window; the rest of `serverCpuSeconds` ran on other
   * threads (V8's optimizing compiler and GC helpers, libuv's pool).
   */
  readonly serverMainThreadSeconds: number
  /** Server CPU per awareness update per observer. */
  readonly cpuPerDeliveryUs: number
  readonly seconds: number
  /** Awareness messages the clients received in the window (what the server sent). */
  readonly messagesReceived: number
  /** Unexpected connection closes by close code. */
  readonly unexpectedCloses: Record<string, number>
}

interface ProviderLike {
  readonly awareness: Awareness
  destroy(): void
  readonly _awarenessUpdateHandler: (
    change: { added: number[]; updated: number[]; removed: number[] },
    origin: unknown,
  ) => void
}

/**
 * Makes a stock provider send only its own awareness changes: its handler is called only for changes of the local
 * state (origin `'local'`, what `setLocalState` uses), not for what it received.
 */
const stopEchoing = (provider: ProviderLike): void => {
  const send = provider._awarenessUpdateHandler
  provider.awareness.off('update', send)
  provider.awareness.on(
    'update',
    (change: { added: number[]; updated: number[]; removed: number[] }, origin: unknown) => {
      if (origin === 'local') send(change, origin)
    },
  )
}

interface PresenceClient {
  readonly provider: ProviderLike
  readonly synced: Promise<void>
  readonly closes: number[]
  destroyed: boolean
}

/** A stock y-websocket client of `room` (Weft at `/relay`), counting the messages it receives in `counter`. */
const connect = (target: Target, room: string, counter: { messages: number }): PresenceClient => {
  if (target.kind !== 'weft' && target.kind !== 'y-websocket-server')
    throw new Error(`the presence workload runs y-websocket clients; not for ${target.kind}`)
  class CountingWebSocket extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols)
      this.on('message', () => counter.messages++)
    }
  }
  const base =
    target.kind === 'weft' ? `ws://127.0.0.1:${target.port}/relay` : `ws://127.0.0.1:${target.port}`
  const provider = new WebsocketProvider(base, room, new Y.Doc(), {
    WebSocketPolyfill: CountingWebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
  })
  const client: PresenceClient = {
    provider: provider as unknown as ProviderLike,
    synced: new Promise<void>((resolve) =>
      provider.on('sync', (state: boolean) => {
        if (state) resolve()
      }),
    ),
    closes: [],
    destroyed: false,
  }
  provider.on('connection-close', (event: CloseEvent | null) => {
    if (!client.destroyed) client.closes.push(event?.code ?? 0)
  })
  return client
}

const tallyCloses = (clients: ReadonlyArray<PresenceClient | undefined>): Record<string, number> => {
  const tally: Record<string, number> = {}
  for (const c of clients) for (const code of c?.closes ?? []) tally[code] = (tally[code] ?? 0) + 1
  return tally
}

/** Runs the presence workload against `target` (server process `serverPid`). */
export const presence = async (
  target: Target,
  serverPid: number,
  sizes: PresenceSizes,
  echo: boolean,
): Promise<PresenceResult> => {
  const { rooms, clientsPerRoom, updates, intervalMs, warmupUpdates } = sizes
  const total = rooms * clientsPerRoom
  const expected = total * updates * (clientsPerRoom - 1)
  let deliveries = 0
  let warmed = 0
  /** What the clients' changes are counted as: warm-up changes carry `w`, measured ones `n`. */
  let phase: 'joining' | 'warm-up' | 'measuring' = 'joining'
  const counter = { messages: 0 }
  const clients: PresenceClient[] = []
  try {
    await inBatches(total, 50, async (i) => {
      const client = connect(target, `presence-${i % rooms}`, counter)
      clients[i] = client
      const provider = client.provider
      if (!echo) stopEchoing(provider)
      const awareness = provider.awareness
      awareness.on(
        'change',
        ({ added, updated }: { added: number[]; updated: number[] }, origin: unknown) => {
          if (origin === 'local' || phase === 'joining') return
          for (const id of [...added, ...updated]) {
            const state = awareness.getStates().get(id) as { n?: unknown; w?: unknown } | undefined
            if (phase === 'measuring' && typeof state?.n === 'number' && state.n > 0) deliveries++
            else if (phase === 'warm-up' && typeof state?.w === 'number') warmed++
          }
        },
      )
      const ok = await Promise.race([client.synced.then(() => true), sleep(60_000).then(() => false)])
      if (!ok) throw new Error(`client ${i} did not sync in 60 s`)
    })
    // Let the presence messages of the joins settle before measuring.
    await sleep(2000)
    const timers: NodeJS.Timeout[] = []
    /** Every client changes its presence `count` times, one every `intervalMs`, with random phases. */
    const move = (count: number, key: 'n' | 'w') =>
      clients.forEach((client, i) => {
        const awareness = client.provider.awareness
        let sent = 0
        const send = () => {
          sent++
          awareness.setLocalState({ [key]: sent, cursor: { x: (i * 37 + sent * 11) % 1000, y: sent } })
          if (sent < count) timers.push(setTimeout(send, intervalMs))
        }
        timers.push(setTimeout(send, Math.random() * intervalMs))
      })
    if (warmupUpdates > 0) {
      phase = 'warm-up'
      move(warmupUpdates, 'w')
      const warm = total * warmupUpdates * (clientsPerRoom - 1)
      if (!(await waitUntil(() => warmed >= warm, warmupUpdates * intervalMs + 60_000)))
        process.stderr.write(`presence: only ${warmed} of ${warm} warm-up deliveries arrived\n`)
      await sleep(1000)
    }
    phase = 'measuring'
    const messages0 = counter.messages
    // WEFT_BENCH_PROFILE: a CPU profile or a system call count of the server over this window only.
    const probe = await startWindowProbe(target.kind, serverPid)
    const cpu0 = cpuTimes(serverPid)
    const main0 = cpuTimes(serverPid, serverPid)
    const t0 = performance.now()
    move(updates, 'n')
    const complete = await waitUntil(() => deliveries >= expected, updates * intervalMs + 60_000)
    const seconds = (performance.now() - t0) / 1000
    for (const t of timers) clearTimeout(t)
    await sleep(300)
    const cpu1 = cpuTimes(serverPid)
    const main1 = cpuTimes(serverPid, serverPid)
    await probe.stop()
    phase = 'joining'
    const messages = counter.messages - messages0
    const serverCpu = cpu1.user + cpu1.system - cpu0.user - cpu0.system
    if (!complete) process.stderr.write(`presence: only ${deliveries} of ${expected} deliveries arrived\n`)
    return {
      clients: total,
      echo,
      deliveries,
      expected,
      serverCpuSeconds: serverCpu,
      serverSystemSeconds: cpu1.system - cpu0.system,
      serverMainThreadSeconds: main1.user + main1.system - main0.user - main0.system,
      cpuPerDeliveryUs: deliveries > 0 ? (serverCpu / deliveries) * 1e6 : Number.NaN,
      seconds,
      messagesReceived: messages,
      unexpectedCloses: tallyCloses(clients),
    }
  } finally {
    for (const c of clients) {
      if (!c) continue
      c.destroyed = true
      c.provider.destroy()
    }
  }
}

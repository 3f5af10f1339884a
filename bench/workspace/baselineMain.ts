/**
 * The baselines' client, in its own process (Hocuspocus's packages must load without `--conditions=source`, see
 * bench/server/hocuspocus.ts): `node --import tsx bench/workspace/baselineMain.ts <yws|hocuspocus> <url> <corpus>`.
 * It says `{"reply":"ready"}`, then reads one JSON command a line on stdin and answers one JSON line on stdout
 * (`{"reply":...}`):
 *
 * - `seed`: one device holding every document connects it (y-websocket: one `WebsocketProvider` per document;
 *   Hocuspocus: one `HocuspocusProvider` per document on one shared `HocuspocusProviderWebsocket`) and waits until
 *   each is synced, so the server holds the workspace.
 * - `cold`: a new device fetches document 0, then documents 1..k, each with its own provider; times and bytes.
 * - `round`: the seeded device disconnects; another device makes the changes of file `changes` (document index +
 *   update); the seeded device reconnects every document; time until each is synced again and holds its change,
 *   and the bytes at its sockets. A round that has not ended after `ROUND_TIMEOUT_MS` (120 s) answers an error
 *   saying how many documents are not synced or lack their change, instead of hanging the benchmark.
 */
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { performance } from 'node:perf_hooks'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { CountingWebSocket, counts, resetCounts } from './countingSocket.js'
import { loadHocuspocusMultiplexed, type HocuspocusSocketLike } from '../server/hocuspocus.js'
import { decodeBlobs } from './corpus.js'

const { HocuspocusProvider, HocuspocusProviderWebsocket } = await loadHocuspocusMultiplexed()

const [kind, url, corpusFile] = process.argv.slice(2) as ['yws' | 'hocuspocus', string, string]
const updates = decodeBlobs(readFileSync(corpusFile))
const room = (i: number) => `bench-${i}`
/** A reconnect round that has not ended after this long (ms; the environment may set it) is reported as stuck. */
const ROUND_TIMEOUT_MS = Number(process.env.ROUND_TIMEOUT_MS ?? 120_000)

/** One document's connection, whichever library. */
interface Conn {
  readonly doc: Y.Doc
  /** Resolves at the next synced state (after a (re)connection). */
  nextSynced(): Promise<void>
  disconnect(): void
  connect(): void
  destroy(): void
}

let shared: HocuspocusSocketLike | null = null
const hocusSocket = (): HocuspocusSocketLike =>
  new HocuspocusProviderWebsocket({ url, WebSocketPolyfill: CountingWebSocket })

const open = (i: number, doc: Y.Doc, socket: HocuspocusSocketLike | null): Conn => {
  if (kind === 'yws') {
    const p = new WebsocketProvider(url, room(i), doc, { WebSocketPolyfill: CountingWebSocket as never })
    return {
      doc,
      nextSynced: () =>
        new Promise<void>((resolve) => {
          const on = (synced: boolean) => {
            if (!synced) return
            p.off('sync', on)
            resolve()
          }
          p.on('sync', on)
        }),
      disconnect: () => p.disconnect(),
      connect: () => p.connect(),
      destroy: () => p.destroy(),
    }
  }
  const ws = socket ?? hocusSocket()
  const p = new HocuspocusProvider({ websocketProvider: ws, name: room(i), document: doc })
  p.attach()
  return {
    doc,
    nextSynced: () =>
      new Promise<void>((resolve) => {
        const on = () => {
          p.off('synced', on)
          resolve()
        }
        p.on('synced', on)
      }),
    disconnect: () => ws.disconnect(),
    connect: () => void ws.connect(),
    destroy: () => {
      p.destroy()
      if (!socket) ws.destroy()
    },
  }
}

const docWith = (...us: Uint8Array[]): Y.Doc => {
  const d = new Y.Doc()
  for (const u of us) Y.applyUpdate(d, u)
  return d
}

const seeded: Conn[] = []

const seed = async () => {
  const t = performance.now()
  if (kind === 'hocuspocus') shared = hocusSocket()
  const waits: Array<Promise<void>> = []
  for (let i = 0; i < updates.length; i++) {
    const c = open(i, docWith(updates[i] as Uint8Array), shared)
    seeded.push(c)
    waits.push(c.nextSynced())
    // By hundreds: y-websocket opens a socket per document; Hocuspocus's one socket, given 1,000 documents at once
    // (10 MB of step 2s at --scale 0.1), was closed and reopened again and again and never finished.
    if (waits.length % 100 === 0) await Promise.all(waits.slice(-100))
  }
  await Promise.all(waits)
  return { ms: performance.now() - t }
}

const cold = async (k: number) => {
  resetCounts()
  const t0 = performance.now()
  const socket = kind === 'hocuspocus' ? hocusSocket() : null
  const first = open(0, new Y.Doc(), socket)
  await first.nextSynced()
  const firstMs = performance.now() - t0
  const rest: Conn[] = []
  for (let i = 1; i <= k && i < updates.length; i++) rest.push(open(i, new Y.Doc(), socket))
  await Promise.all(rest.map((c) => c.nextSynced()))
  const totalMs = performance.now() - t0
  const bytes = counts.sent + counts.received
  for (const c of [first, ...rest]) c.destroy()
  socket?.destroy()
  return { firstMs, totalMs, bytes }
}

const hasChange = (doc: Y.Doc, change: Uint8Array): boolean => {
  const probe = new Y.Doc()
  Y.applyUpdate(probe, change)
  const need = Y.encodeStateVector(probe)
  probe.destroy()
  const sv = Y.decodeStateVector(Y.encodeStateVector(doc))
  for (const [client, clock] of Y.decodeStateVector(need)) if ((sv.get(client) ?? 0) < clock) return false
  return true
}

const round = async (changesFile: string, indicesJson: string) => {
  const indices = JSON.parse(indicesJson) as number[]
  const changes = decodeBlobs(readFileSync(changesFile))
  if (kind === 'hocuspocus') shared?.disconnect()
  else for (const c of seeded) c.disconnect()
  // Another device makes the changes, one connection each, then leaves.
  const other = kind === 'hocuspocus' ? hocusSocket() : null
  const writers = indices.map((i, n) => {
    const base = seeded[i]?.doc as Y.Doc
    return open(i, docWith(Y.encodeStateAsUpdate(base), changes[n] as Uint8Array), other)
  })
  await Promise.all(writers.map((w) => w.nextSynced()))
  for (const w of writers) w.destroy()
  other?.destroy()
  resetCounts()
  const t0 = performance.now()
  let waitingSync = seeded.length
  let waitingChange = indices.length
  const synced = seeded.map((c) => c.nextSynced().then(() => void waitingSync--))
  if (kind === 'hocuspocus') void shared?.connect()
  else for (const c of seeded) c.connect()
  // A round that cannot end says so, with what it waits on, instead of hanging the benchmark.
  let timer: ReturnType<typeof setTimeout> | undefined
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(`round stuck: ${waitingSync} documents not synced, ${waitingChange} lack their change`),
        ),
      ROUND_TIMEOUT_MS,
    )
  })
  try {
    await Promise.race([Promise.all(synced), stuck])
    // Synced, and holding every change (a change still in flight to the server would arrive as an update).
    await Promise.race([
      Promise.all(
        indices.map(
          (i, n) =>
            new Promise<void>((resolve) => {
              const doc = seeded[i]?.doc as Y.Doc
              const check = () => {
                if (!hasChange(doc, changes[n] as Uint8Array)) return
                doc.off('update', check)
                waitingChange--
                resolve()
              }
              doc.on('update', check)
              check()
            }),
        ),
      ),
      stuck,
    ])
  } finally {
    clearTimeout(timer)
  }
  return { ms: performance.now() - t0, sent: counts.sent, received: counts.received }
}

const rl = createInterface({ input: process.stdin })
rl.on('line', (line) => {
  const cmd = JSON.parse(line) as { cmd: string; k?: number; changes?: string; indices?: string }
  const run = async (): Promise<unknown> => {
    switch (cmd.cmd) {
      case 'seed':
        return seed()
      case 'cold':
        return cold(cmd.k ?? 100)
      case 'round':
        return round(cmd.changes ?? '', cmd.indices ?? '[]')
      case 'exit':
        process.exit(0)
    }
    throw new Error(`unknown command ${cmd.cmd}`)
  }
  run().then(
    (reply) => process.stdout.write(`${JSON.stringify({ reply })}\n`),
    (err: unknown) => process.stdout.write(`${JSON.stringify({ error: String(err) })}\n`),
  )
})
// Commands sent before this line would be lost (stdin flows from the start, see ServerProcess's EXIT_WITH_PARENT).
process.stdout.write(`${JSON.stringify({ reply: 'ready' })}\n`)

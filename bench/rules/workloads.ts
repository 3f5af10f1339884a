/**
 * The two workloads whose relay CPU per accepted update is compared with rules on and off: a whiteboard (several
 * stock y-websocket clients creating, moving and recolouring shapes of the demo's schema, each change one message,
 * all allowed by the demo's rules) and an editor (an editing trace from ../shared/data replayed into the demo
 * document's `body` text, one transaction per message, with one reader). Each round uses a new room, so that a ruled
 * relay builds the room's validating view as it would for a room opened by its users.
 */
import type * as Y from 'yjs'
import { connectClient, tallyCloses, type BenchClient } from '../server/connectClient.js'
import type { Trace } from '../traces.js'
import { COLOURS, insertShape, sameState, typedBoard, untilDocs } from './board.js'
import type { RulesRelay } from './relay.js'

/** What one round measured. */
export interface RoundResult {
  /** Updates the clients sent (every one accepted: the round fails on any close). */
  readonly updates: number
  /** Relay CPU (user + system) from the first update until every client holds every update. */
  readonly cpuSeconds: number
  /** {@link cpuSeconds} per update, in microseconds. */
  readonly cpuPerUpdateUs: number
  readonly seconds: number
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const connectAll = async (relay: RulesRelay, room: string, n: number): Promise<BenchClient[]> => {
  const clients = Array.from({ length: n }, () => connectClient({ kind: 'weft', port: relay.port }, room))
  await Promise.all(clients.map((c) => c.synced))
  return clients
}

/** Runs `send` with the relay's CPU measured until every client converged; fails if the relay closed anyone. */
const measured = async (
  relay: RulesRelay,
  clients: readonly BenchClient[],
  updates: number,
  send: () => Promise<void>,
): Promise<RoundResult> => {
  const docs: Y.Doc[] = clients.map((c) => c.doc)
  try {
    const cpu0 = relay.cpuSeconds()
    const t0 = performance.now()
    await send()
    await untilDocs(docs, () => sameState(docs))
    const cpuSeconds = relay.cpuSeconds() - cpu0
    const seconds = (performance.now() - t0) / 1000
    const closes = tallyCloses(clients)
    if (Object.keys(closes).length > 0)
      throw new Error(`${relay.name} closed clients: ${JSON.stringify(closes)}`)
    return { updates, cpuSeconds, cpuPerUpdateUs: (cpuSeconds * 1e6) / updates, seconds }
  } finally {
    for (const c of clients) c.destroy()
  }
}

/** Sizes of a whiteboard round. */
export interface WhiteboardSizes {
  readonly clients: number
  readonly updatesPerClient: number
  readonly intervalMs: number
}

/**
 * `clients` stock clients in `room`; each makes `updatesPerClient` changes, one every `intervalMs`, cycling through
 * creating a shape, moving one of its shapes and recolouring one (one transaction, so one update, each).
 */
export const whiteboardRound = async (
  relay: RulesRelay,
  room: string,
  { clients: n, updatesPerClient, intervalMs }: WhiteboardSizes,
): Promise<RoundResult> => {
  const clients = await connectAll(relay, room, n)
  const writer = async (c: BenchClient, k: number) => {
    const shapes = typedBoard(c.doc).root.shapes
    let created = 0
    for (let i = 0; i < updatesPerClient; i++) {
      const op = i % 3
      if (op === 0 || created === 0) {
        insertShape(c.doc, `c${k}-${created}`, (k * 100 + i * 7) % 4000, (k * 50 + i * 11) % 3000)
        created++
      } else {
        const id = `c${k}-${(i * 7919) % created}`
        const r =
          op === 1
            ? shapes.update(id, { x: (i * 13) % 4000, y: (i * 17) % 3000 })
            : shapes.update(id, { color: COLOURS[i % COLOURS.length] ?? '#ffffff' })
        if (!r.ok) throw new Error(`update of ${id} refused by the schema`)
      }
      await wait(intervalMs)
    }
  }
  return measured(relay, clients, n * updatesPerClient, async () => {
    await Promise.all(clients.map((c, k) => writer(c, k)))
  })
}

/** Sizes of an editor round. */
export interface EditorSizes {
  readonly txns: number
  readonly intervalMs: number
}

/**
 * One writer replays the first `txns` transactions of `trace` into the `body` text of a demo document in `room`
 * (one update per transaction, one every `intervalMs`); one reader receives them.
 */
export const editorRound = async (
  relay: RulesRelay,
  room: string,
  trace: Trace,
  { txns, intervalMs }: EditorSizes,
): Promise<RoundResult> => {
  const clients = await connectAll(relay, room, 2)
  const writer = clients[0] as BenchClient
  const body = typedBoard(writer.doc).root.body
  const steps = trace.txns.slice(0, txns)
  return measured(relay, clients, steps.length, async () => {
    for (const { patches } of steps) {
      writer.doc.transact(() => {
        for (const [pos, del, ins] of patches) {
          if (del > 0) body.delete(pos, del)
          if (ins !== '') body.insert(pos, ins)
        }
      })
      await wait(intervalMs)
    }
  })
}

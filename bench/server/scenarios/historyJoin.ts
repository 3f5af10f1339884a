/**
 * (c) Joining a document with a long history: the first `edits` transactions of an editing trace (automerge-paper,
 * a paper typed with many deletions) are sent to a room one edit per message, the way a connected editor sends
 * them. They go through a sequence of writer connections of `editsPerWriter` edits each (the servers' per-connection
 * rate limits allow a burst of about 1,000 messages), each writer syncing first and leaving once a watcher saw its
 * last edit. Then `joins` fresh clients join one after the other; for each, the time from creating the provider to
 * its synced event and the bytes the server sent it until then. Before each join a third client makes one small
 * edit that the watcher must have seen, so the server holds everything and no answer is reused across joins (a
 * document being edited while clients join).
 */
import * as Y from 'yjs'
import type { HistorySizes } from '../config.js'
import { connectClient, tallyCloses, type BenchClient, type Target } from '../connectClient.js'
import { median, sleep, waitUntil } from '../stats.js'
import { loadTrace } from '../../traces.js'

/** Outcome of {@link historyJoin}. */
export interface HistoryResult {
  readonly edits: number
  readonly writers: number
  /** The document's size encoded by a client (Y.encodeStateAsUpdate of its Y.Doc). */
  readonly docBytes: number
  readonly timesMs: readonly number[]
  readonly bytes: readonly number[]
  readonly medianMs: number
  readonly medianBytes: number
  /** Unexpected connection closes by close code. */
  readonly unexpectedCloses: Record<string, number>
}

/** The trace as one update per edit, in blocks of `perWriter`, with the author's clock after each block. */
export const historyUpdates = (
  edits: number,
  perWriter: number,
): { blocks: Array<{ updates: Uint8Array[]; clock: number }>; text: string; client: number } => {
  const trace = loadTrace('automerge-paper', edits)
  const doc = new Y.Doc()
  const text = doc.getText('t')
  const blocks: Array<{ updates: Uint8Array[]; clock: number }> = []
  let block: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => block.push(u))
  trace.txns.forEach(({ patches }, i) => {
    doc.transact(() => {
      for (const [pos, del, ins] of patches) {
        if (del > 0) text.delete(pos, del)
        if (ins.length > 0) text.insert(pos, ins)
      }
    })
    if ((i + 1) % perWriter === 0 || i === trace.txns.length - 1) {
      blocks.push({ updates: block, clock: clockOf(doc, doc.clientID) })
      block = []
    }
  })
  return { blocks, text: text.toString(), client: doc.clientID }
}

const clockOf = (doc: Y.Doc, client: number): number =>
  Y.decodeStateVector(Y.encodeStateVector(doc)).get(client) ?? 0

const synced = async (client: BenchClient, what: string): Promise<void> => {
  const ok = await Promise.race([client.synced.then(() => true), sleep(60_000).then(() => false)])
  if (!ok) throw new Error(`${what} did not sync in 60 s`)
}

/** Runs the long-history join workload against `target`. */
export const historyJoin = async (target: Target, sizes: HistorySizes): Promise<HistoryResult> => {
  const { blocks, text, client } = historyUpdates(sizes.edits, sizes.editsPerWriter)
  const clients: BenchClient[] = []
  const connect = () => {
    const c = connectClient(target, 'history')
    clients.push(c)
    return c
  }
  try {
    const watcher = connect()
    await synced(watcher, 'the watcher')
    for (const [b, { updates, clock }] of blocks.entries()) {
      const writer = connect()
      await synced(writer, `writer ${b}`)
      // One transaction per applyUpdate: the provider sends each edit as its own message.
      for (const u of updates) Y.applyUpdate(writer.doc, u)
      if (!(await waitUntil(() => clockOf(watcher.doc, client) >= clock, 60_000, 2))) {
        throw new Error(`writer ${b}'s edits were not relayed in 60 s`)
      }
      writer.destroy()
    }
    const marker = connect()
    await synced(marker, 'the marker client')
    const marks = marker.doc.getMap<number>('mark')
    const seen = watcher.doc.getMap<number>('mark')
    const timesMs: number[] = []
    const bytes: number[] = []
    for (let k = 0; k < sizes.joins; k++) {
      marks.set('k', k)
      if (!(await waitUntil(() => seen.get('k') === k, 60_000, 2)))
        throw new Error(`mark ${k} not relayed in 60 s`)
      const t0 = performance.now()
      const joiner = connect()
      await synced(joiner, `joiner ${k}`)
      timesMs.push(performance.now() - t0)
      bytes.push(joiner.bytesReceived())
      const got = joiner.doc.getText('t').toString()
      if (got !== text || joiner.doc.getMap<number>('mark').get('k') !== k) {
        throw new Error(
          `join ${k} synced with different content (${got.length} vs ${text.length} characters)`,
        )
      }
      joiner.destroy()
    }
    return {
      edits: sizes.edits,
      writers: blocks.length,
      docBytes: Y.encodeStateAsUpdate(watcher.doc).byteLength,
      timesMs,
      bytes,
      medianMs: median(timesMs),
      medianBytes: median(bytes),
      unexpectedCloses: tallyCloses(clients),
    }
  } finally {
    for (const c of clients) c.destroy()
  }
}

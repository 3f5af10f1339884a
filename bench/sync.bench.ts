/**
 * Issue 2: the sync engine's cost against raw y-protocols sync between two in-memory peers, same workload (an
 * editing trace replayed on peer A, every transaction synced to peer B). Target: <= 1.2x.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'
import { SyncSession } from '@weft/core'
import { MemoryNetwork } from '@weft/core/testing'
import { timePair, type Row } from './lib.js'
import { loadTrace, type Trace } from './traces.js'

const edit = (doc: Y.Doc, trace: Trace, each: () => void) => {
  const text = doc.getText('t')
  for (const { patches } of trace.txns) {
    doc.transact(() => {
      for (const [pos, del, ins] of patches) {
        if (del > 0) text.delete(pos, del)
        if (ins.length > 0) text.insert(pos, ins)
      }
    })
    each()
  }
}

/** Baseline: y-protocols' own encoders/decoders over an in-memory queue (copying bytes, like a transport). */
const raw = (trace: Trace): string => {
  const a = new Y.Doc()
  const b = new Y.Doc()
  const queue: Uint8Array[] = []
  a.on('update', (update: Uint8Array) => {
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, 0)
    syncProtocol.writeUpdate(e, update)
    queue.push(encoding.toUint8Array(e).slice())
  })
  edit(a, trace, () => {
    for (const m of queue.splice(0)) {
      const d = decoding.createDecoder(m)
      decoding.readVarUint(d)
      syncProtocol.readSyncMessage(d, encoding.createEncoder(), b, 'remote')
    }
  })
  return b.getText('t').toString()
}

/** Two SyncSessions on a connected MemoryTransport pair, handshake done. */
const sessionPair = () => {
  const net = new MemoryNetwork()
  const ta = net.transport('a')
  const tb = net.transport('b')
  net.link(ta, tb)
  const a = new Y.Doc()
  const b = new Y.Doc()
  const sa = new SyncSession({ doc: a })
  const sb = new SyncSession({ doc: b })
  sa.addTransport(ta)
  sb.addTransport(tb)
  ta.connect()
  tb.connect()
  net.flush()
  const destroy = () => {
    sa.destroy()
    sb.destroy()
  }
  return { net, ta, tb, a, b, destroy }
}

/** Weft: two SyncSessions on a MemoryTransport pair. */
const weft = (trace: Trace): string => {
  const { net, a, b, destroy } = sessionPair()
  edit(a, trace, () => net.flush())
  const out = b.getText('t').toString()
  destroy()
  return out
}

/**
 * Issue 6: a peer reconnects after 10,000 edits made while it was away (on top of a shared history): bytes it
 * receives against the whole document's size (and against the missed edits merged into one update).
 */
const reconnect = (trace: Trace): { received: number; docBytes: number; merged: number } => {
  const { net, ta, tb, a, b, destroy } = sessionPair()
  const shared = { ...trace, txns: trace.txns.slice(0, trace.txns.length - 10_000) }
  const away = { ...trace, txns: trace.txns.slice(trace.txns.length - 10_000) }
  edit(a, shared, () => net.flush())
  ta.disconnect()
  tb.disconnect()
  const missed: Uint8Array[] = []
  const collect = (u: Uint8Array) => missed.push(u)
  a.on('update', collect)
  edit(a, away, () => undefined)
  a.off('update', collect)
  const before = net.received.get('b') ?? 0
  ta.connect()
  tb.connect()
  net.flush()
  if (b.getText('t').toString() !== a.getText('t').toString()) throw new Error('reconnect did not converge')
  const out = {
    received: (net.received.get('b') ?? 0) - before,
    docBytes: Y.encodeStateAsUpdate(a).length,
    merged: Y.mergeUpdates(missed).length,
  }
  destroy()
  return out
}

export default async (): Promise<Row[]> => {
  const trace = loadTrace('automerge-paper', 60_000)
  if (raw(trace) !== weft(trace)) throw new Error('the two pipelines disagree')
  const { a, b } = await timePair(
    () => weft(trace),
    () => raw(trace),
    5,
  )
  const r = reconnect(trace)
  return [
    {
      bench: `reconnect after 10,000 offline edits, ${trace.name}`,
      metric: 'bytes received vs the whole document',
      value: r.received,
      baseline: r.docBytes,
      baselineName: 'document state',
      unit: 'B',
    },
    {
      bench: `reconnect after 10,000 offline edits, ${trace.name}`,
      metric: 'bytes received vs the missed edits merged',
      value: r.received,
      baseline: r.merged,
      baselineName: 'merged missed edits',
      unit: 'B',
      target: 1.5,
    },
    {
      bench: `sync engine, ${trace.name}`,
      metric: 'edit + sync to a second peer, median of 5',
      value: a.medianMs,
      baseline: b.medianMs,
      baselineName: 'raw y-protocols',
      unit: 'ms',
      target: 1.2,
    },
  ]
}

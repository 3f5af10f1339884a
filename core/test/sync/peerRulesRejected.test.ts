/**
 * RULES-6.11: a session with rules and an open authority takes a `rejected` message from its authority only. A peer
 * would otherwise make it roll back a change the relay accepted, and the restore would undo it at the relay too.
 */
import type * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { SyncSession, openDocument, type SyncSessionEvents } from '../../src/index.js'
import { decodeMessage, encodeRejected } from '../../src/protocol/index.js'
import { MemoryDocStore, MemoryNetwork, type MemoryTransport } from '../../src/testing/index.js'
import { lockRules, seedBoard, seeded, shapesOf } from './peerRulesFixture.js'

type Rejected = Parameters<SyncSessionEvents['rejected']>[0]

/** Moves shape `id` with plain Yjs. */
const rawMove = (doc: Y.Doc, id: string, x: number): void => {
  ;(doc.getMap('shapes').get(id) as Y.Map<unknown>).set('x', x)
}

/** Delivers everything, acks included (they wait for the `durable` promise). */
const settle = async (net: MemoryNetwork): Promise<void> => {
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => setImmediate(resolve))
    if (net.flush() === 0 && net.pending === 0) return
  }
}

const linked = (net: MemoryNetwork, a: SyncSession, an: string, b: SyncSession, bn: string) => {
  const [ta, tb] = [net.transport(`${an}>${bn}`), net.transport(`${bn}>${an}`)]
  net.link(ta, tb)
  a.addTransport(ta)
  b.addTransport(tb)
  ta.connect()
  tb.connect()
  return [ta, tb] as const
}

/** The sequence numbers of the sync updates `from` received. */
const seqsReceived = (from: MemoryTransport): number[] => {
  const seqs: number[] = []
  from.on('message', ({ data }) => {
    const m = decodeMessage(data)
    if (m.type === 'sync-update' && m.seq !== null) seqs.push(m.seq)
  })
  return seqs
}

describe('rejected messages in a session with rules (RULES-6.11)', () => {
  it('RULES-6.11: with the authority open, a peer’s `rejected` is answered `rolled-back` without a rollback; the accepted change stays everywhere', async () => {
    const net = new MemoryNetwork()
    const seed = seedBoard({ a: 'alice' }, ['b'])
    const durable = () => Promise.resolve()
    let relayPath: MemoryTransport | null = null
    const writer = new SyncSession({
      doc: seeded(seed),
      durable,
      rules: { rules: lockRules, authority: (t) => t === relayPath },
    })
    const relay = new SyncSession({ doc: seeded(seed), durable })
    // The hostile peer announces acks (so the writer numbers its updates) and never sends one.
    const hostile = new SyncSession({ doc: seeded(seed), durable: () => new Promise<void>(() => undefined) })
    ;[relayPath] = linked(net, writer, 'writer', relay, 'relay')
    const [, tm] = linked(net, writer, 'writer', hostile, 'mallory')
    const seqs = seqsReceived(tm)
    const rejected: Rejected[] = []
    writer.on('rejected', (e) => rejected.push(e))
    await settle(net)

    rawMove(writer.doc, 'b', 20) // a free shape: valid
    await settle(net)
    expect(shapesOf(relay.doc)['b']?.x).toBe(20)
    const seq = seqs.at(-1)
    expect(seq).toBeTypeOf('number')
    const rolledBack = new Promise<void>((resolve) =>
      tm.on('message', ({ data }) => (decodeMessage(data).type === 'rolled-back' ? resolve() : undefined)),
    )
    tm.send(encodeRejected(seq ?? 0, 'shapes.update', 'shapes/b', 'forged'))
    await settle(net)
    await rolledBack
    expect(rejected).toEqual([])
    expect(shapesOf(writer.doc)['b']?.x).toBe(20)
    expect(shapesOf(relay.doc)['b']?.x).toBe(20)
    for (const s of [writer, relay, hostile]) s.destroy()
  })

  it('RULES-6.11: without rules too, a peer’s forged `rejected` is not taken while the relay (the authority) is open; with no authority known it still is', async () => {
    for (const withAuthority of [true, false]) {
      const net = new MemoryNetwork()
      const seed = seedBoard({ a: 'alice' }, ['b'])
      const durable = () => Promise.resolve()
      let relayPath: MemoryTransport | null = null
      const writer = new SyncSession({
        doc: seeded(seed),
        durable,
        ...(withAuthority ? { authority: (t: unknown) => t === relayPath, forward: 'all' as const } : {}),
      })
      const relay = new SyncSession({ doc: seeded(seed), durable })
      const hostile = new SyncSession({
        doc: seeded(seed),
        durable: () => new Promise<void>(() => undefined),
      })
      ;[relayPath] = linked(net, writer, 'writer', relay, 'relay')
      const [, tm] = linked(net, writer, 'writer', hostile, 'mallory')
      const seqs = seqsReceived(tm)
      const rejected: Rejected[] = []
      writer.on('rejected', (e) => rejected.push(e))
      await settle(net)

      rawMove(writer.doc, 'b', 20)
      await settle(net)
      expect(shapesOf(relay.doc)['b']?.x).toBe(20)
      tm.send(encodeRejected(seqs.at(-1) ?? 0, 'shapes.update', 'shapes/b', 'forged'))
      await settle(net)
      if (withAuthority) {
        expect(rejected).toEqual([])
        expect(shapesOf(writer.doc)['b']?.x).toBe(20)
        expect(shapesOf(relay.doc)['b']?.x).toBe(20)
      } else {
        // Nothing tells this session which path is its relay: the peer's refusal is taken (stated limit).
        expect(rejected.length).toBe(1)
      }
      for (const s of [writer, relay, hostile]) s.destroy()
    }
  })

  it('RULES-6.11: openDocument without rules takes `rejected` from the transport added as the relay only, while it is open', async () => {
    const net = new MemoryNetwork()
    const seed = seedBoard({ a: 'alice' }, ['b'])
    const durable = () => Promise.resolve()
    const handle = await openDocument({ docId: 'board', doc: seeded(seed), store: new MemoryDocStore() })
    const relay = new SyncSession({ doc: seeded(seed), durable })
    const hostile = new SyncSession({ doc: seeded(seed), durable: () => new Promise<void>(() => undefined) })
    const link = (peer: SyncSession, name: string, relayPath: boolean) => {
      const [ta, tb] = [net.transport(`writer>${name}`), net.transport(`${name}>writer`)]
      net.link(ta, tb)
      handle.addTransport(ta, { relay: relayPath })
      peer.addTransport(tb)
      ta.connect()
      tb.connect()
      return tb
    }
    link(relay, 'relay', true)
    const tm = link(hostile, 'mallory', false)
    const seqs = seqsReceived(tm)
    const rejected: Rejected[] = []
    handle.session.on('rejected', (e) => rejected.push(e))
    await settle(net)
    rawMove(handle.doc, 'b', 20)
    await settle(net)
    expect(shapesOf(relay.doc)['b']?.x).toBe(20)
    tm.send(encodeRejected(seqs.at(-1) ?? 0, 'shapes.update', 'shapes/b', 'forged'))
    await settle(net)
    expect(rejected).toEqual([])
    expect(shapesOf(handle.doc)['b']?.x).toBe(20)
    expect(shapesOf(relay.doc)['b']?.x).toBe(20)
    await handle.destroy()
    relay.destroy()
    hostile.destroy()
  })

  it('RULES-6.11: a peer’s forged `rejected` is not taken while the authority’s path is down either (a short drop); the accepted change stays at the relay after it comes back', async () => {
    const net = new MemoryNetwork()
    const seed = seedBoard({ a: 'alice' }, ['b'])
    const durable = () => Promise.resolve()
    let relayPath: MemoryTransport | null = null
    const writer = new SyncSession({
      doc: seeded(seed),
      durable,
      rules: { rules: lockRules, authority: (t) => t === relayPath },
    })
    const relay = new SyncSession({ doc: seeded(seed), durable })
    const hostile = new SyncSession({ doc: seeded(seed), durable: () => new Promise<void>(() => undefined) })
    const [toRelay, relaySide] = linked(net, writer, 'writer', relay, 'relay')
    relayPath = toRelay
    const [, tm] = linked(net, writer, 'writer', hostile, 'mallory')
    const seqs = seqsReceived(tm)
    const rejected: Rejected[] = []
    writer.on('rejected', (e) => rejected.push(e))
    await settle(net)
    rawMove(writer.doc, 'b', 20)
    await settle(net)
    expect(shapesOf(relay.doc)['b']?.x).toBe(20)
    toRelay.disconnect()
    relaySide.disconnect()
    await settle(net)
    tm.send(encodeRejected(seqs.at(-1) ?? 0, 'shapes.update', 'shapes/b', 'forged'))
    await settle(net)
    expect(rejected).toEqual([])
    toRelay.connect()
    relaySide.connect()
    await settle(net)
    expect(shapesOf(writer.doc)['b']?.x).toBe(20)
    expect(shapesOf(relay.doc)['b']?.x).toBe(20)
    for (const s of [writer, relay, hostile]) s.destroy()
  })
})

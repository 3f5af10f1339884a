/**
 * RULES-6.10: an old epoch's state fetched from peers (SYNC-9.7) is taken from an authority only. A hostile peer that
 * answers the epoch request with a forged archive would otherwise have a checking peer store it and serve it to a
 * peer coming back from that epoch, which re-applies it into its document as its own changes.
 */
import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { SyncSession, docId, openDocument, type DocHandle } from '../../src/index.js'
import { encodeEpochOffer } from '../../src/protocol/index.js'
import { encodeEpochRecord, epochArchiveId } from '../../src/storage/epochs.js'
import { MemoryDocStore, MemoryNetwork, type MemoryTransport } from '../../src/testing/index.js'
import { lockRules, seedBoard, seeded, shapesOf } from './peerRulesFixture.js'
import { applyStoredDoc } from '../../src/storage/applyStoredDoc.js'

const DOC = docId('board')

interface Peer {
  readonly name: string
  readonly handle: DocHandle
  readonly store: MemoryDocStore
  readonly errors: string[]
  /** The document of the current epoch. */
  doc: Y.Doc
}

/** A peer opened as an app does (a store, epochs followed at once), `rules` when it checks them. */
const open = async (name: string, doc: Y.Doc, ruled: boolean): Promise<Peer> => {
  const store = new MemoryDocStore()
  const handle = await openDocument({
    doc,
    store,
    docId: DOC,
    epochs: { live: true },
    persistPending: false,
    ...(ruled ? { rules: { rules: lockRules } } : {}),
  })
  const peer: Peer = { name, handle, store, errors: [], doc }
  handle.on('epoch-changed', ({ doc: next }) => (peer.doc = next))
  handle.on('error', ({ error }) => peer.errors.push(error.message))
  return peer
}

/** Links two sessions over `net`; `relay`: `b` adds the link as its relay (its authority, RULES-6.1). */
const link = (
  net: MemoryNetwork,
  a: { name: string; session: SyncSession },
  b: Peer,
  relay = false,
): [MemoryTransport, MemoryTransport] => {
  const ta = net.transport(`${a.name}>${b.name}`)
  const tb = net.transport(`${b.name}>${a.name}`)
  net.link(ta, tb)
  a.session.addTransport(ta)
  b.handle.addTransport(tb, { relay })
  ta.connect()
  tb.connect()
  return [ta, tb]
}

const settle = async (net: MemoryNetwork, peers: Peer[]): Promise<void> => {
  for (let i = 0; i < 30; i++) {
    net.flush()
    await Promise.all(peers.map((p) => p.handle.epochs?.settled()))
    await Promise.all(peers.map((p) => p.handle.persistence?.flushed()))
    if (net.pending === 0) return
  }
}

/** Moves shape `id` with plain Yjs, around the schema and any check (what a malicious peer does). */
const rawMove = (doc: Y.Doc, id: string, x: number) =>
  (doc.getMap('shapes').get(id) as Y.Map<unknown>).set('x', x)

/** The shapes of the old epoch `epoch` as `peer`'s store archived it. */
const archivedShapes = async (peer: Peer, epoch: string) => {
  const stored = await peer.store.load(epochArchiveId(DOC, epoch))
  if (!stored) return null
  const doc = new Y.Doc({ gc: false })
  applyStoredDoc(doc, stored, null)
  return shapesOf(doc)
}

describe('old epochs fetched from peers in a ruled session (RULES-6.10)', () => {
  it('RULES-6.10 SYNC-9.7: a forged archive from a peer is neither stored nor served; the authority’s is', async () => {
    const net = new MemoryNetwork()
    const seed = seedBoard({ a: 'alice' }, ['b'])
    // The relay (the authority of the ruled peer) starts an epoch; the ruled peer joins fresh after it, so it holds
    // nothing of the old epoch.
    const relay = await open('relay', seeded(seed), false)
    const record = await relay.handle.epochs!.start()
    const honest = await open('honest', new Y.Doc(), true)
    const [tr, th] = link(net, { name: 'relay', session: relay.handle.session }, honest, true)
    await settle(net, [relay, honest])
    expect(honest.handle.session.epoch).toBe(record.id)
    net.cut(tr, th)

    // A hostile peer in the new epoch answers the epoch request with a forged old epoch: the seed (so it holds the
    // base) plus a move of the shape alice locked.
    const forged = seeded(seed)
    rawMove(forged, 'a', 999)
    const hostile = new SyncSession({
      doc: seeded(Y.encodeStateAsUpdate(relay.doc)),
      epoch: record,
      epochLineage: (epoch) => (epoch === record.parent ? { record, oldDoc: forged } : null),
    })
    const [tm] = link(net, { name: 'hostile', session: hostile }, honest)
    await settle(net, [honest])

    // A peer without rules comes back from the old epoch with an offline move of the free shape; it reaches the
    // others only through the honest peer, which must fetch the old epoch to hand it its catch-up.
    const old = await open('old', seeded(seed), false)
    rawMove(old.doc, 'b', 20)
    link(net, { name: 'old', session: old.handle.session }, honest)
    await settle(net, [honest, old])
    // The honest peer asks its authority only; the hostile peer sends its forged archive all the same.
    tm.send(encodeEpochOffer(encodeEpochRecord(record), Y.encodeStateAsUpdate(forged)))
    await settle(net, [honest, old])
    expect(await archivedShapes(honest, record.parent)).toBeNull()
    expect(old.handle.session.epoch).toBe(record.parent)
    expect(shapesOf(old.doc)['a']?.x).toBe(10)

    // The relay comes back: its answer is taken, stored and served.
    net.link(tr, th)
    await settle(net, [relay, honest, old])
    expect(await archivedShapes(honest, record.parent)).toEqual({
      a: { x: 10, lockedBy: 'alice' },
      b: { x: 10, lockedBy: '' },
    })
    expect(old.handle.session.epoch).toBe(record.id)
    expect(shapesOf(old.doc)).toEqual({ a: { x: 10, lockedBy: 'alice' }, b: { x: 20, lockedBy: '' } })
    expect(shapesOf(honest.doc)).toEqual(shapesOf(old.doc))
    expect([...relay.errors, ...honest.errors, ...old.errors]).toEqual([])
    hostile.destroy()
  })
})

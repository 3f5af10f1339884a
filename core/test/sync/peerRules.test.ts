import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import {
  SyncSession,
  openDocument,
  type SyncSessionEvents,
  type SyncSessionOptions,
} from '../../src/index.js'
import { startEpoch } from '../../src/storage/epochs.js'
import { TestNet, type TestPeer } from './peers.js'
import { lockRules, namedPeers, seedBoard, seeded, shapesOf } from './peerRulesFixture.js'

type Refused = Parameters<SyncSessionEvents['refused']>[0]
type Rejected = Parameters<SyncSessionEvents['rejected']>[0]

/** A peer of `net` whose document starts from `seed`. */
const peer = (net: TestNet, name: string, seed: Uint8Array, options: Partial<SyncSessionOptions> = {}) => {
  const doc = seeded(seed)
  const session = new SyncSession({ ...options, doc })
  const p: TestPeer = { name, doc, session, links: new Map(), errors: [] }
  session.on('error', ({ error }) => p.errors.push(error))
  net.peers.set(name, p)
  const refused: Refused[] = []
  const rejected: Rejected[] = []
  session.on('refused', (e) => refused.push(e))
  session.on('rejected', (e) => rejected.push(e))
  return { ...p, refused, rejected }
}

/** Everything delivered, acks included (they wait for the `durable` promise). */
const settle = async (net: TestNet): Promise<void> => {
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => setImmediate(resolve))
    if (net.flush() === 0 && net.network.pending === 0) return
  }
}

const durable = () => Promise.resolve()

/** Moves shape `id` with plain Yjs, around the schema and any check (what a malicious peer does). */
const rawMove = (doc: Y.Doc, id: string, x: number) =>
  (doc.getMap('shapes').get(id) as Y.Map<unknown>).set('x', x)

describe('peers check the rules on what they receive (RULES-6)', () => {
  it('RULES-6.2 RULES-6.5: relay-less, 2 honest peers and a malicious one: the honest peers never hold the violating content, their own edits are kept', async () => {
    const net = new TestNet()
    const seed = seedBoard({ a: 'alice' }, ['b'])
    const h1 = peer(net, 'h1', seed, { rules: { rules: lockRules } })
    const h2 = peer(net, 'h2', seed, { rules: { rules: lockRules } })
    const m = peer(net, 'm', seed)
    net.connect(h1, h2)
    net.connect(h1, m)
    net.connect(h2, m)
    net.flush()

    // Honest edits before and after the malicious one; the malicious peer moves a shape alice locked.
    rawMove(h1.doc, 'b', 20)
    rawMove(m.doc, 'a', 999)
    net.flush()
    rawMove(h2.doc, 'b', 30)
    net.flush()
    // The malicious peer's next change (a valid one, on top of its refused one) is kept out too.
    rawMove(m.doc, 'b', 40)
    net.flush()
    h1.session.resync()
    h2.session.resync()
    net.flush()

    for (const h of [h1, h2]) {
      expect(shapesOf(h.doc)['a']).toEqual({ x: 10, lockedBy: 'alice' })
      expect(h.refused[0]).toMatchObject({ ruleId: 'shapes.update', path: ['shapes', 'a'], told: false })
      expect(h.errors).toEqual([])
    }
    expect(shapesOf(h1.doc)).toEqual(shapesOf(h2.doc))
    expect(shapesOf(h1.doc)['b']?.x).toBe(30)
    // The malicious peer got the honest edits (it only writes around the rules, it still reads).
    expect(shapesOf(m.doc)['a']?.x).toBe(999)
  })

  it('RULES-6.2: a sync step 2 is checked the same way: a peer joining with violating content is refused whole', () => {
    const net = new TestNet()
    const seed = seedBoard({ a: 'alice' }, ['b'])
    const h = peer(net, 'h', seed, { rules: { rules: lockRules } })
    const m = peer(net, 'm', seed)
    rawMove(m.doc, 'a', 999) // offline, then it connects
    rawMove(m.doc, 'b', 50)
    net.connect(h, m)
    net.flush()
    expect(shapesOf(h.doc)).toEqual({ a: { x: 10, lockedBy: 'alice' }, b: { x: 10, lockedBy: '' } })
    expect(h.refused).toHaveLength(1)
    expect(h.session.synced).toBe(true)
  })

  it('RULES-6.3: a Weft writer whose change a peer refuses rolls back and gets the typed rejected event; its later edit is re-applied and taken', async () => {
    const net = new TestNet()
    const seed = seedBoard({ a: 'alice' }, ['b'])
    const h = peer(net, 'h', seed, { durable, rules: { rules: lockRules } })
    const w = peer(net, 'w', seed, { durable })
    net.connect(h, w)
    await settle(net)

    const before = w.doc.clientID
    rawMove(w.doc, 'a', 999) // refused: anonymous writers may not move a locked shape
    rawMove(w.doc, 'b', 30) // sent before the writer heard: refused behind the fence, re-applied after the rollback
    await settle(net)

    expect(w.rejected).toHaveLength(1)
    expect(w.rejected[0]).toMatchObject({ ruleId: 'shapes.update', path: ['shapes', 'a'], seq: 2 }) // seq 1: its step 2
    expect(w.doc.clientID).not.toBe(before)
    expect(shapesOf(w.doc)).toEqual({ a: { x: 10, lockedBy: 'alice' }, b: { x: 30, lockedBy: '' } })
    expect(shapesOf(h.doc)).toEqual(shapesOf(w.doc))
    expect(h.refused.map((e) => e.told)).toEqual([true])
    // Nothing stays unacknowledged: the refused updates are settled (RULES-5.3).
    const info = w.session.pathInfo(w.links.get('h') as never, w.session.paths[0]?.peer as never)
    expect(info?.ackedSeq).toBe(info?.sentSeq)

    // The writer keeps writing under its new client id: taken.
    rawMove(w.doc, 'b', 40)
    await settle(net)
    expect(shapesOf(h.doc)['b']?.x).toBe(40)
    expect(w.rejected).toHaveLength(1)
  })

  it('RULES-6.2 RULES-6.3: a writer that checks rules too rolls back, then checks what its peer sends against the rolled-back document', async () => {
    const net = new TestNet()
    const seed = seedBoard({ a: 'alice' }, ['b'])
    const h = peer(net, 'h', seed, { durable, rules: { rules: lockRules } })
    const w = peer(net, 'w', seed, { durable, rules: { rules: lockRules } })
    net.connect(h, w)
    await settle(net)
    rawMove(w.doc, 'a', 999)
    await settle(net)
    expect(w.rejected).toHaveLength(1)
    expect(shapesOf(w.doc)['a']?.x).toBe(10)
    // The peer's valid change is taken, its invalid one refused, by the writer's view of the rolled-back document.
    rawMove(h.doc, 'b', 7)
    await settle(net)
    rawMove(h.doc, 'a', 8)
    await settle(net)
    expect(shapesOf(w.doc)).toEqual({ a: { x: 10, lockedBy: 'alice' }, b: { x: 7, lockedBy: '' } })
    expect(w.refused.map((e) => [e.ruleId, e.told])).toEqual([['shapes.update', true]])
    expect(h.rejected).toHaveLength(1)
    expect(shapesOf(h.doc)).toEqual(shapesOf(w.doc))
    expect([...h.errors, ...w.errors]).toEqual([])
  })

  it("RULES-6.7: an epoch a peer offers is not followed (its state was never checked); an authority's is", () => {
    const net = new TestNet()
    const seed = seedBoard({ a: 'alice' })
    const evil = seeded(seed)
    rawMove(evil, 'a', 999)
    const started = startEpoch(evil) // a new epoch whose initial state holds the forbidden move
    const offers: string[] = []
    const h = peer(net, 'h', seed, {
      rules: { rules: lockRules, authority: (t) => (t as unknown as { name: string }).name === 'h->relay' },
    })
    h.session.on('epoch-offer', ({ transport }) =>
      offers.push((transport as unknown as { name: string }).name),
    )
    for (const name of ['m', 'relay']) {
      const session = new SyncSession({ doc: started.doc, epoch: started.record })
      const p: TestPeer = { name, doc: started.doc, session, links: new Map(), errors: [] }
      net.connect(h, p)
      net.flush()
    }
    expect(offers).toEqual(['h->relay'])
    expect(shapesOf(h.doc)['a']?.x).toBe(10)
  })

  it('RULES-6.4: peerWriter says who writes on a path: the owner of a lock moves its shape, anyone else is refused', async () => {
    const net = new TestNet()
    const seed = seedBoard({ a: 'alice', c: 'carol' })
    const h = peer(net, 'h', seed, { durable, rules: namedPeers() })
    const alice = peer(net, 'alice', seed, { durable })
    net.connect(h, alice)
    await settle(net)
    rawMove(alice.doc, 'a', 50) // alice's own lock: taken
    await settle(net)
    expect(shapesOf(h.doc)['a']?.x).toBe(50)
    rawMove(alice.doc, 'c', 50) // carol's lock: refused, rolled back
    await settle(net)
    expect(shapesOf(h.doc)['c']?.x).toBe(10)
    expect(shapesOf(alice.doc)['c']?.x).toBe(10)
    expect(alice.rejected.map((e) => e.ruleId)).toEqual(['shapes.update'])
  })

  it('RULES-6.1: updates of an authority path are applied unchecked; the view follows them', () => {
    const net = new TestNet()
    const seed = seedBoard({ a: 'alice' }, ['b'])
    const authority = { name: 'relay' }
    const h = peer(net, 'h', seed, {
      rules: { rules: lockRules, authority: (t) => (t as unknown as { name: string }).name === 'h->relay' },
    })
    const relay = peer(net, authority.name, seed)
    const m = peer(net, 'm', seed)
    net.connect(h, relay)
    net.connect(h, m)
    net.flush()
    rawMove(relay.doc, 'a', 70) // the relay accepted alice's move
    net.flush()
    expect(shapesOf(h.doc)['a']?.x).toBe(70)
    expect(h.refused).toEqual([])
    // The view holds the authority's update: a peer's change on top of it is judged against x = 70.
    m.session.destroy()
    const m2 = peer(net, 'm2', Y.encodeStateAsUpdate(relay.doc))
    net.connect(h, m2)
    net.flush()
    rawMove(m2.doc, 'b', 5) // valid (b is unlocked)
    rawMove(m2.doc, 'a', 6) // refused
    net.flush()
    expect(shapesOf(h.doc)).toEqual({ a: { x: 70, lockedBy: 'alice' }, b: { x: 5, lockedBy: '' } })
    expect(h.refused.map((e) => e.ruleId)).toEqual(['shapes.update'])
  })

  it('RULES-6.1: openDocument with rules: the transport added as the relay is the authority, every other one is checked', async () => {
    const net = new TestNet()
    const seed = seedBoard({ a: 'alice' }, ['b'])
    const handle = await openDocument({ docId: 'board-1', doc: seeded(seed), rules: { rules: lockRules } })
    const relay = peer(net, 'relay', seed)
    const m = peer(net, 'm', seed)
    const toRelay = net.network.transport('h->relay')
    const toH = net.network.transport('relay->h')
    net.network.link(toRelay, toH)
    const toM = net.network.transport('h->m')
    const fromM = net.network.transport('m->h')
    net.network.link(toM, fromM)
    handle.addTransport(toRelay, { relay: true })
    handle.addTransport(toM)
    relay.session.addTransport(toH)
    m.session.addTransport(fromM)
    for (const t of [toRelay, toH, toM, fromM]) t.connect()
    net.flush()
    const refused: Refused[] = []
    handle.session.on('refused', (e) => refused.push(e))

    rawMove(relay.doc, 'a', 70) // through the relay: taken as it is
    rawMove(m.doc, 'b', 5) // valid, from a peer: checked and taken
    net.flush()
    rawMove(m.doc, 'a', 6) // from a peer: refused
    net.flush()
    expect(shapesOf(handle.doc)).toEqual({ a: { x: 70, lockedBy: 'alice' }, b: { x: 5, lockedBy: '' } })
    expect(refused.map((e) => e.ruleId)).toEqual(['shapes.update'])
    await handle.destroy()
  })
})

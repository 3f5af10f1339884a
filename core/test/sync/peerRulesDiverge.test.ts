/** RULES-6.6: two honest peers that disagree on a disputed record (each decides in its own order). */
import * as Y from 'yjs'
import { expect, it } from 'vitest'
import { SyncSession, type SyncSessionEvents, type SyncSessionOptions } from '../../src/index.js'
import { TestNet, type TestPeer } from './peers.js'
import { namedPeers, seedBoard, seeded, shapesOf } from './peerRulesFixture.js'

type Refused = Parameters<SyncSessionEvents['refused']>[0]
type Rejected = Parameters<SyncSessionEvents['rejected']>[0]

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

const durable = () => Promise.resolve()

/** Everything delivered, acks included (they wait for the `durable` promise). */
const settle = async (net: TestNet): Promise<void> => {
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => setImmediate(resolve))
    if (net.flush() === 0 && net.network.pending === 0) return
  }
}

const set = (doc: Y.Doc, id: string, key: string, v: unknown) =>
  (doc.getMap('shapes').get(id) as Y.Map<unknown>).set(key, v)
const cut = (net: TestNet, a: TestPeer, b: TestPeer) =>
  net.network.cut(a.links.get(b.name)!, b.links.get(a.name)!)
const relink = (net: TestNet, a: TestPeer, b: TestPeer) =>
  net.network.link(a.links.get(b.name)!, b.links.get(a.name)!)

it('RULES-6.6: a refused step 2 is never told: an honest peer that forwards a disputed move keeps its own valid edits', async () => {
  const net = new TestNet()
  const seed = seedBoard({}, ['a', 'b'])
  const alice = peer(net, 'alice', seed, { durable, rules: namedPeers() })
  const bob = peer(net, 'bob', seed, { durable, rules: namedPeers() })
  const m = peer(net, 'm', seed, { durable, rules: namedPeers() })
  // m moves 'a' while it is unlocked and alice takes it; bob, offline, locks 'a' concurrently.
  net.connect(alice, m)
  await settle(net)
  set(m.doc, 'a', 'x', 999)
  await settle(net)
  cut(net, alice, m)
  set(bob.doc, 'a', 'lockedBy', 'bob')
  expect(shapesOf(alice.doc)['a']).toEqual({ x: 999, lockedBy: '' })
  // The honest peers meet: bob refuses alice's step 2 (it holds m's move of a shape he locked), silently.
  net.connect(alice, bob)
  await settle(net)
  expect(bob.refused.map((r) => [r.ruleId, r.told])).toEqual([['shapes.update', false]])
  // alice edits 'b' (an unrelated, valid change) while apart, then they meet again.
  cut(net, alice, bob)
  set(alice.doc, 'b', 'x', 77)
  relink(net, alice, bob)
  await settle(net)
  expect(alice.rejected).toEqual([])
  expect(alice.refused).toEqual([])
  expect(shapesOf(alice.doc)['b']).toEqual({ x: 77, lockedBy: '' })
  expect(shapesOf(alice.doc)['a']).toEqual({ x: 999, lockedBy: 'bob' })
  expect(bob.refused.every((r) => !r.told)).toBe(true)
  // The documented limit: bob takes none of alice's changes over this path until an authority settles it.
  expect(shapesOf(bob.doc)['b']).toEqual({ x: 10, lockedBy: '' })
  expect(shapesOf(bob.doc)['a']).toEqual({ x: 10, lockedBy: 'bob' })
})

it("RULES-6.3 RULES-6.6: an update holding structs of more than one client is refused silently (it may carry others' content)", async () => {
  const net = new TestNet()
  const seed = seedBoard({ a: 'alice' }, ['b'])
  const h = peer(net, 'h', seed, { durable, rules: namedPeers() })
  const w = peer(net, 'w', seed, { durable })
  net.connect(h, w)
  await settle(net)
  // w passes on, in one update, another client's move of the locked shape with its own valid move.
  const other = seeded(seed)
  set(other, 'a', 'x', 5)
  w.doc.transact(() => {
    Y.applyUpdate(w.doc, Y.encodeStateAsUpdate(other, Y.encodeStateVector(w.doc)))
    set(w.doc, 'b', 'x', 6)
  })
  await settle(net)
  expect(h.refused.map((r) => [r.ruleId, r.told])).toEqual([['shapes.update', false]])
  expect(w.rejected).toEqual([])
  expect(shapesOf(w.doc)['b']).toEqual({ x: 6, lockedBy: '' })
})

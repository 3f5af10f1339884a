/** SYNC-3.6: a peer's update is not forwarded to an authority, which would judge it as the forwarder's (issues #15/#16). */
import type * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import {
  SyncSession,
  type PeerId,
  type SyncSessionEvents,
  type SyncSessionOptions,
  type Transport,
} from '../../src/index.js'
import { TestNet, type TestPeer } from './peers.js'
import { namedPeers, seedBoard, seeded, shapesOf } from './peerRulesFixture.js'

type Rejected = Parameters<SyncSessionEvents['rejected']>[0]

const peer = (net: TestNet, name: string, seed: Uint8Array, options: Partial<SyncSessionOptions> = {}) => {
  const doc = seeded(seed)
  const session = new SyncSession({ ...options, doc })
  const p: TestPeer = { name, doc, session, links: new Map(), errors: [] }
  session.on('error', ({ error }) => p.errors.push(error))
  net.peers.set(name, p)
  const rejected: Rejected[] = []
  session.on('rejected', (e) => rejected.push(e))
  return { ...p, rejected }
}

/** Everything delivered, acks included (they wait for the `durable` promise). */
const settle = async (net: TestNet): Promise<void> => {
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => setImmediate(resolve))
    if (net.flush() === 0 && net.network.pending === 0) return
  }
}

const durable = () => Promise.resolve()

/** Whether `transport` is bob's link to the relay (`TestNet` names a transport `<me>-><them>`). */
const toRelay = (transport: Transport, _peer: PeerId): boolean =>
  (transport as Transport & { name: string }).name === 'bob->relay'

const rawMove = (doc: Y.Doc, id: string, x: number) =>
  (doc.getMap('shapes').get(id) as Y.Map<unknown>).set('x', x)

/**
 * A relay stand-in that judges every write on a connection as that connection's peer (a ruled relay, RULES-4; a
 * catalogue guard, WS-ACCESS): shape `a` is locked by alice, `f` is free. Bob is linked to the relay (his authority)
 * and to alice (WebRTC-like); alice to bob alone.
 */
const room = (bob: Partial<SyncSessionOptions>) => {
  const net = new TestNet()
  const seed = seedBoard({ a: 'alice' }, ['f'])
  const relay = peer(net, 'relay', seed, { durable, rules: namedPeers() })
  const b = peer(net, 'bob', seed, { durable, ...bob })
  const a = peer(net, 'alice', seed, { durable })
  net.connect(b, relay)
  net.connect(a, b)
  return { net, relay, b, a }
}

describe('forwarding to an authority (SYNC-3.6)', () => {
  it("SYNC-3.6: a peer's change is not forwarded to the authority: the forwarder is not rejected, its own edits stay; the relay gets the change from its writer", async () => {
    const { net, relay, b, a } = room({ authority: toRelay })
    await settle(net)
    rawMove(b.doc, 'f', 20) // bob's own, allowed
    rawMove(a.doc, 'a', 99) // alice's own, allowed for alice, not for bob
    await settle(net)
    rawMove(b.doc, 'f', 30)
    await settle(net)

    expect(b.rejected).toEqual([])
    expect(shapesOf(b.doc)['a']?.x).toBe(99) // peers still bridge
    expect(shapesOf(b.doc)['f']?.x).toBe(30)
    expect(shapesOf(relay.doc)['f']?.x).toBe(30)
    expect(shapesOf(relay.doc)['a']?.x).toBe(10) // not from bob

    net.connect(a, relay) // alice's own connection brings it, judged as hers
    await settle(net)
    expect(shapesOf(relay.doc)['a']?.x).toBe(99)
    expect(a.rejected).toEqual([])
    expect([relay, b, a].flatMap((p) => p.errors)).toEqual([])
  })

  it("SYNC-3.6 RULES-6.9: with rules, their authority is the session's: a ruled session does not forward a peer's change to it", async () => {
    const { net, relay, b, a } = room({ rules: { ...namedPeers(), authority: toRelay } })
    await settle(net)
    rawMove(a.doc, 'a', 99)
    await settle(net)
    rawMove(b.doc, 'f', 20)
    await settle(net)
    expect(b.rejected).toEqual([])
    expect(shapesOf(relay.doc)['a']?.x).toBe(10)
    expect(shapesOf(relay.doc)['f']?.x).toBe(20)
  })

  it("SYNC-3.6: an authority's updates still reach the peers, and a session's own changes the authority", async () => {
    const { net, relay, b, a } = room({ authority: toRelay })
    await settle(net)
    relay.doc.transact(() => rawMove(relay.doc, 'f', 40))
    await settle(net)
    expect(shapesOf(a.doc)['f']?.x).toBe(40)
    rawMove(b.doc, 'f', 41)
    await settle(net)
    expect(shapesOf(relay.doc)['f']?.x).toBe(41)
    expect(shapesOf(a.doc)['f']?.x).toBe(41)
  })

  it("SYNC-3.1 SYNC-3.6: forward: 'all' forwards a peer's change to the authority too (judged as the forwarder's)", async () => {
    const { net, relay, b, a } = room({ authority: toRelay, forward: 'all' })
    await settle(net)
    rawMove(a.doc, 'a', 99)
    await settle(net)
    expect(b.rejected.length).toBeGreaterThan(0) // the bug SYNC-3.6 avoids
    expect(shapesOf(relay.doc)['a']?.x).toBe(10)
  })

  it("SYNC-3.1: without an authority every path gets a peer's change", async () => {
    const net = new TestNet()
    const seed = seedBoard({}, ['f'])
    const r = peer(net, 'relay', seed, { durable })
    const b = peer(net, 'bob', seed, { durable })
    const a = peer(net, 'alice', seed, { durable })
    net.connect(b, r)
    net.connect(a, b)
    await settle(net)
    rawMove(a.doc, 'f', 5)
    await settle(net)
    expect(shapesOf(r.doc)['f']?.x).toBe(5)
  })
})

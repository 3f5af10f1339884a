import { describe, expect, it } from 'vitest'
import { docId, openDocument, storedPendingCount, type DocHandle } from '../../src/index.js'
import { MemoryDocStore, MemoryNetwork, type MemoryTransport } from '../../src/testing/index.js'
import { settle } from '../support/settleHandles.js'

const D = docId('d')

/** A relay stand-in: a handle with a store (durable acks). */
const relayOn = async (net: MemoryNetwork) => {
  const handle = await openDocument({ docId: 'd', store: new MemoryDocStore(), persistPending: false })
  const transport = net.transport('relay')
  handle.addTransport(transport)
  transport.connect()
  return { handle, transport }
}

/** Adds a transport of `handle` named `name`, linked to `to` when given; `relay` marks it as the handle's relay. */
const link = (
  net: MemoryNetwork,
  handle: DocHandle,
  name: string,
  to: MemoryTransport | null,
  relay = false,
) => {
  const t = net.transport(name)
  if (to) net.link(t, to)
  handle.addTransport(t, { relay })
  return t
}

describe('STORE-9.9 changes from a peer that is not the relay', () => {
  it('STORE-9.9, STORE-9.3: a crashed tab’s changes stored by another tab count as pending until the relay holds them', async () => {
    const net = new MemoryNetwork()
    const store = new MemoryDocStore()
    const a = await openDocument({ docId: 'd', store })
    // Tab B's own writes never commit (it crashes before its append): its store is not the shared one.
    const b = await openDocument({ docId: 'd', store: new MemoryDocStore() })
    link(net, a, 'a-relay', null, true) // the relay is down
    link(net, b, 'b-relay', null, true)
    const ab = link(net, a, 'a-tab', null)
    const ba = link(net, b, 'b-tab', ab)
    ab.connect()
    ba.connect()
    await settle(net, [a, b])
    for (let i = 0; i < 5; i++) b.doc.getText('t').insert(0, `${i}`)
    b.doc.getText('t').delete(0, 1) // a deletion alone: no struct
    await settle(net, [a, b])
    expect(a.doc.getText('t').toString()).toBe('3210')
    expect(a.pendingChanges).toBe(6)
    await a.destroy()
    // What eviction checks (WS-CLIENT-5.1) and what a reopened tab shows (STORE-9.3).
    expect(storedPendingCount((await store.load(D))?.meta ?? {})).toBe(6)
    const c = await openDocument({ docId: 'd', store })
    expect(c.pendingChanges).toBe(6)
    const relay = await relayOn(net)
    link(net, c, 'c-relay', relay.transport, true).connect()
    await settle(net, [c, relay.handle])
    expect(relay.handle.doc.getText('t').toString()).toBe('3210')
    expect(c.pendingChanges).toBe(0)
    expect(storedPendingCount((await store.load(D))?.meta ?? {})).toBe(0)
    await Promise.all([b.destroy(), c.destroy(), relay.handle.destroy()])
  })

  it('STORE-9.9: online, a tab’s changes are confirmed once the relay holds them (its step 2 acknowledged, or its updates)', async () => {
    const net = new MemoryNetwork()
    const store = new MemoryDocStore()
    const relay = await relayOn(net)
    const a = await openDocument({ docId: 'd', store })
    const b = await openDocument({ docId: 'd', store })
    const ar = link(net, a, 'a-relay', relay.transport, true)
    const ab = link(net, a, 'a-tab', null)
    const ba = link(net, b, 'b-tab', ab)
    ab.connect()
    ba.connect()
    await settle(net, [a, b])
    b.doc.getText('t').insert(0, 'xy')
    await settle(net, [a, b])
    expect(a.pendingChanges).toBe(1)
    // A's relay comes up: its step 2 carries B's change; once acknowledged, it is confirmed.
    ar.connect()
    await settle(net, [a, b, relay.handle])
    expect(relay.handle.doc.getText('t').toString()).toBe('xy')
    expect(a.pendingChanges).toBe(0)
    // B online too: B's next changes reach A by both paths; the relay's copy confirms them (a deletion included).
    link(net, b, 'b-relay', relay.transport, true).connect()
    await settle(net, [a, b, relay.handle])
    b.doc.getText('t').insert(0, 'z')
    b.doc.getText('t').delete(1, 1)
    await settle(net, [a, b, relay.handle])
    expect(a.doc.getText('t').toString()).toBe('zy')
    expect(b.pendingChanges).toBe(0)
    expect(a.pendingChanges).toBe(0)
    await Promise.all([a.destroy(), b.destroy()])
    expect(storedPendingCount((await store.load(D))?.meta ?? {})).toBe(0)
    await relay.handle.destroy()
  })
})

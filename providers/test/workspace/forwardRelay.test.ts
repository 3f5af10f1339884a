/** SYNC-3.6 in a workspace: a peer's catalogue change is not forwarded to the relay (issues #15/#16). */
import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { SyncSession, defineSchema, openTyped, s, type Transport } from '@weft/core'
import { defineRules } from '@weft/core/rules'
import { MemoryDocStore, MemoryNetwork } from '@weft/core/testing'
import { openWorkspace } from '../../src/index.js'

/** Delivers every queued message until `done()` holds (each round lets the stores' promises run). */
const pump = async (net: MemoryNetwork, done: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !done(); i++) {
    net.flush()
    await new Promise((resolve) => setImmediate(resolve))
  }
  expect(done()).toBe(true)
}

const records = (doc: Y.Doc): string[] => [...doc.getMap('documents').keys()].sort()

describe('workspace forwarding (SYNC-3.6)', () => {
  it("SYNC-3.6 WS-CLIENT-1.3: bob's catalogue gets alice's record over a peer transport and does not forward it to the relay; bob's own record reaches it", async () => {
    const net = new MemoryNetwork()
    // A relay stand-in for room W/.catalogue: a session that records whatever bob's connection sends.
    const relayDoc = new Y.Doc()
    const relay = new SyncSession({ doc: relayDoc })
    const relaySide = net.transport('relay')
    const bobToRelay = net.transport('bob->relay')
    net.link(relaySide, bobToRelay)
    relay.addTransport(relaySide)
    relaySide.connect()
    const bobToAlice = net.transport('bob->alice')
    const aliceToBob = net.transport('alice->bob')
    net.link(bobToAlice, aliceToBob)
    const only =
      (transport: Transport) =>
      (room: string): Transport[] =>
        room === 'W/.catalogue' ? [transport] : []
    const bob = await openWorkspace({
      id: 'W',
      store: new MemoryDocStore(),
      relay: (room) => (room === 'W/.catalogue' ? bobToRelay : net.transport(`unused ${room}`)),
      transports: only(bobToAlice),
    })
    const alice = await openWorkspace({ id: 'W', store: new MemoryDocStore(), transports: only(aliceToBob) })

    alice.create({ title: 'alice', id: 'x' })
    await pump(net, () => bob.list.get('x') !== undefined)
    bob.create({ title: 'bob', id: 'b' })
    await pump(net, () => relayDoc.getMap('documents').has('b'))

    expect(records(relayDoc)).toEqual(['b']) // alice's record comes from alice's own connection, not bob's
    expect(bob.list.get('x')?.title).toBe('alice')
    await alice.destroy()
    await bob.destroy()
    relay.destroy()
  })

  it('RULES-6.9: openWorkspace({ rules }) checks what peers send to its documents', async () => {
    const notes = defineSchema({
      name: 'notes',
      version: 1,
      root: { notes: s.collection({ text: s.string() }) },
    })
    const rules = defineRules(notes, { collections: { notes: { create: () => 'peers create no note' } } })
    const net = new MemoryNetwork()
    const pair = new Map<string, [Transport, Transport]>()
    const side =
      (i: 0 | 1) =>
      (room: string): Transport[] => {
        let p = pair.get(room)
        if (!p) {
          const a = net.transport(`bob ${room}`)
          const b = net.transport(`alice ${room}`)
          net.link(a, b)
          pair.set(room, (p = [a, b]))
        }
        return [p[i]]
      }
    const bob = await openWorkspace({
      id: 'W',
      store: new MemoryDocStore(),
      transports: side(0),
      rules: (d) => (d === 'd' ? { rules } : undefined),
    })
    const alice = await openWorkspace({ id: 'W', store: new MemoryDocStore(), transports: side(1) })
    alice.create({ title: 'by alice', id: 'd' }) // the catalogue takes it: no rules there
    await pump(net, () => bob.list.get('d') !== undefined)
    const mine = await bob.open('d')
    const refused: string[] = []
    mine.session.on('refused', (e) => refused.push(e.reason))
    const theirs = await alice.open('d')
    openTyped(theirs.doc, notes).root.notes.insert({ text: 'hi' }, { id: 'n' })
    await pump(net, () => refused.length > 0)
    expect(refused).toEqual(['peers create no note'])
    expect(mine.doc.getMap('notes').has('n')).toBe(false)
    await alice.destroy()
    await bob.destroy()
  })
})

/**
 * RULES-6.1, 6.5: a relay with rules plus a direct path between a malicious and an honest client (WebRTC or tabs in
 * an app; a memory pair here). The honest client checks what the direct path sends; the relay is its authority.
 */
import * as Y from 'yjs'
import { afterEach, describe, expect, it } from 'vitest'
import { SyncSession, openTyped, type SyncSessionEvents } from '@weft/core'
import { MemoryNetwork } from '@weft/core/testing'
import { board, boardRules, ruledClient, settled, startRuledRelay, until } from './relayRules.js'
import { MemoryRelayTransport } from './memoryRelayTransport.js'

const shapesOf = (doc: Y.Doc) => doc.getMap('shapes').toJSON() as Record<string, Record<string, unknown>>

/** Whether every path of `session` acknowledged everything it was sent. */
const acked = (session: SyncSession): boolean =>
  session.paths.every(({ transport, peer }) => {
    const info = session.pathInfo(transport, peer)
    return info !== undefined && info.ackedSeq === info.sentSeq
  })

/** Delivers the memory network's messages (acks wait for a promise) until `done()`. */
const pumped = async (net: MemoryNetwork, done: () => boolean): Promise<void> => {
  while (!done()) {
    await new Promise((resolve) => setImmediate(resolve))
    net.flush()
  }
}

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

describe('a relay with rules plus a direct path (RULES-6.5)', () => {
  it('RULES-6.1 RULES-6.5: the honest client refuses the direct write; its own unsynced edits reach the relay and are accepted', async () => {
    const r = startRuledRelay()
    cleanups.push(r.close)
    const alice = await ruledClient(r, 'board-1', 'alice', cleanups)
    alice.typed.root.shapes.insert({ name: 'a', x: 10, author: 'alice' }, { id: 'a' })
    await settled(alice.session)

    // The honest client: connected to the relay (its authority) and, directly, to the malicious one.
    const hankDoc = new Y.Doc()
    const hank = openTyped(hankDoc, board)
    let relay = new MemoryRelayTransport(r.connect('board-1', 'hank'))
    const hankSession = new SyncSession({
      doc: hankDoc,
      durable: () => Promise.resolve(),
      rules: { rules: boardRules, authority: (t) => t === relay },
    })
    cleanups.push(() => hankSession.destroy())
    hankSession.addTransport(relay)
    cleanups.push(() => relay.destroy())
    await hankSession.whenSynced()
    const refused: Array<Parameters<SyncSessionEvents['refused']>[0]> = []
    const rejected: Array<Parameters<SyncSessionEvents['rejected']>[0]> = []
    hankSession.on('refused', (e) => refused.push(e))
    hankSession.on('rejected', (e) => rejected.push(e))

    // The malicious client: a Weft session that writes around the schema with plain Yjs, reached only directly.
    const net = new MemoryNetwork()
    const toMallory = net.transport('hank->mallory')
    const toHank = net.transport('mallory->hank')
    net.link(toMallory, toHank)
    const malDoc = new Y.Doc()
    const mallory = new SyncSession({ doc: malDoc, durable: () => Promise.resolve() })
    cleanups.push(() => mallory.destroy())
    hankSession.addTransport(toMallory)
    mallory.addTransport(toHank)
    toMallory.connect()
    toHank.connect()
    net.flush()
    expect(shapesOf(malDoc).a?.x).toBe(10)

    // Hank goes offline from the relay and edits; mallory moves alice's shape and sends it straight to hank.
    hankSession.removeTransport(relay)
    relay.destroy()
    hank.root.shapes.insert({ name: 'h', x: 5, author: 'hank' }, { id: 'h' })
    ;(malDoc.getMap('shapes').get('a') as Y.Map<unknown>).set('x', 99)
    const malRejected: unknown[] = []
    mallory.on('rejected', (e) => malRejected.push(e))
    await pumped(net, () => malRejected.length > 0 && acked(mallory))
    expect(shapesOf(hankDoc).a?.x).toBe(10)
    // No authority is open (hank is offline): hank decides, and mallory, a Weft writer, is told and rolls back.
    expect(refused).toMatchObject([{ ruleId: 'shapes.owner', told: true }])
    expect(shapesOf(malDoc).a?.x).toBe(10)

    // Back online: hank's step 2 holds its own edit and nothing of mallory's: the relay accepts it whole.
    relay = new MemoryRelayTransport(r.connect('board-1', 'hank'))
    cleanups.push(() => relay.destroy())
    hankSession.addTransport(relay)
    await hankSession.whenSynced()
    await settled(hankSession)
    await until(alice.doc, () => shapesOf(alice.doc).h !== undefined)
    expect(rejected).toEqual([])
    expect(shapesOf(hankDoc).h).toMatchObject({ name: 'h', x: 5, author: 'hank' })
    const stored = shapesOf(await r.stored('board-1'))
    expect(stored.h).toMatchObject({ name: 'h', x: 5, author: 'hank' })
    expect(stored.a?.x).toBe(10)

    // Online again, the relay is hank's authority: mallory's next direct write is refused silently (RULES-6.5).
    ;(malDoc.getMap('shapes').get('a') as Y.Map<unknown>).set('x', 77)
    hank.root.shapes.update('h', { x: 6 })
    await pumped(net, () => refused.length === 2 && acked(mallory))
    await settled(hankSession)
    expect(refused[1]).toMatchObject({ ruleId: 'shapes.owner', told: false })
    expect(shapesOf(hankDoc).a?.x).toBe(10)
    expect(shapesOf(await r.stored('board-1'))).toMatchObject({ a: { x: 10 }, h: { x: 6 } })
    expect(rejected).toEqual([])
  })

  it('RULES-6.5: with an authority open, an owner edit the peer cannot attribute is not rolled back: it arrives through the relay', async () => {
    const r = startRuledRelay()
    cleanups.push(r.close)
    const alice = await ruledClient(r, 'board-2', 'alice', cleanups)
    alice.typed.root.shapes.insert({ name: 'a', x: 10, author: 'alice' }, { id: 'a' })
    await settled(alice.session)
    const bobDoc = new Y.Doc()
    const relay = new MemoryRelayTransport(r.connect('board-2', 'bob'))
    const bob = new SyncSession({
      doc: bobDoc,
      durable: () => Promise.resolve(),
      rules: { rules: boardRules, authority: (t) => t === relay },
    })
    cleanups.push(
      () => bob.destroy(),
      () => relay.destroy(),
    )
    bob.addTransport(relay)
    await bob.whenSynced()
    // Alice and bob also share a direct path (WebRTC in the demo): bob cannot tell alice's changes from anyone's.
    const net = new MemoryNetwork()
    const toAlice = net.transport('bob->alice')
    const toBob = net.transport('alice->bob')
    net.link(toAlice, toBob)
    bob.addTransport(toAlice)
    alice.session.addTransport(toBob)
    toAlice.connect()
    toBob.connect()
    net.flush()
    const rejected: unknown[] = []
    alice.session.on('rejected', (e) => rejected.push(e))

    const refusedByBob: unknown[] = []
    bob.on('refused', (e) => refusedByBob.push(e))
    alice.typed.root.shapes.update('a', { x: 60 }) // her own shape: the relay accepts, bob's check cannot
    net.flush() // the direct path first: bob refuses it (an anonymous writer owns nothing)
    expect(refusedByBob).toMatchObject([{ ruleId: 'shapes.owner', told: false }])
    await pumped(net, () => shapesOf(bobDoc).a?.x === 60 && acked(alice.session))
    expect(rejected).toEqual([])
    expect(shapesOf(alice.doc).a?.x).toBe(60)
    expect(shapesOf(await r.stored('board-2')).a?.x).toBe(60)
  })
})

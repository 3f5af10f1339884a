import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  docId,
  openDocument,
  PENDING_META,
  storedPendingCount,
  WeftErrorCode,
  type AppendOptions,
  type DocHandle,
  type DocId,
} from '../../src/index.js'
import { MemoryDocStore, MemoryNetwork, writerValue, type MemoryTransport } from '../../src/testing/index.js'
import { settle } from '../support/settleHandles.js'

const D = docId('d')

/** A MemoryDocStore that records every write, in call order, with the local count it stores. */
class RecordingStore extends MemoryDocStore {
  readonly log: string[] = []
  override append(id: DocId, update: Uint8Array, options?: AppendOptions): Promise<number> {
    this.log.push(`append ${writerValue(options?.meta, PENDING_META.local) ?? '-'}`)
    return super.append(id, update, options)
  }
  override setMeta(id: DocId, key: string, value: string | null): Promise<void> {
    this.log.push(`setMeta ${key}=${value}`)
    return super.setMeta(id, key, value)
  }
}

/** A relay stand-in: a handle with a store (durable acks). */
const relayOn = async (net: MemoryNetwork, name = 'relay') => {
  const handle = await openDocument({ docId: 'd', store: new MemoryDocStore(), persistPending: false })
  const transport = net.transport(name)
  handle.addTransport(transport)
  transport.connect()
  return { handle, transport }
}

/** A transport of `net` from `handle` to `relay`, marked as the handle's relay (not connected yet). */
const relayTransport = (
  net: MemoryNetwork,
  handle: DocHandle,
  relay: { transport: MemoryTransport },
  name: string,
) => {
  const t = net.transport(name)
  net.link(t, relay.transport)
  handle.addTransport(t, { relay: true })
  return t
}

describe('DocHandle', () => {
  it('STORE-9.1: loads the store, counts local changes until the relay durably stored them, survives a reload', async () => {
    const net = new MemoryNetwork()
    const relay = await relayOn(net)
    const store = new MemoryDocStore()
    const handle = await openDocument({ docId: 'd', store })
    const t = relayTransport(net, handle, relay, 'c')
    expect(handle.relay).toBe(t)
    const seen: number[] = []
    handle.on('pending-changed', ({ pendingChanges }) => seen.push(pendingChanges))
    handle.doc.getText('t').insert(0, 'ab')
    handle.doc.getText('t').insert(2, 'c')
    expect(handle.pendingChanges).toBe(2)
    await handle.flushed()
    await handle.destroy()
    // The transport and the store stay open: the caller owns them.
    expect(t.status).toBe('disconnected')
    const again = await openDocument({ docId: 'd', store })
    expect(again.doc.getText('t').toString()).toBe('abc')
    expect(again.pendingChanges).toBe(2)
    const t2 = relayTransport(net, again, relay, 'c2')
    t2.connect()
    await settle(net, [again, relay.handle])
    expect(relay.handle.doc.getText('t').toString()).toBe('abc')
    expect(again.pendingChanges).toBe(0)
    // STORE-9.7: the first session's 2 changes are marked settled by the second session, which confirmed them.
    expect(storedPendingCount((await store.load(D))?.meta ?? {})).toBe(0)
    expect(seen).toEqual([1, 2])
    await again.destroy()
    await relay.handle.destroy()
  })

  it('STORE-9.1: only the relay confirms when one is set; a peer of another transport does not', async () => {
    const net = new MemoryNetwork()
    const peer = await relayOn(net, 'peer')
    const handle = await openDocument({ docId: 'd', store: new MemoryDocStore() })
    const toPeer = net.transport('c')
    net.link(toPeer, peer.transport)
    handle.addTransport(toPeer)
    const relayT = net.transport('c-relay') // never linked: the relay is unreachable
    const remove = handle.addTransport(relayT, { relay: true })
    toPeer.connect()
    handle.doc.getText('t').insert(0, 'x')
    await settle(net, [handle, peer.handle])
    expect(peer.handle.doc.getText('t').toString()).toBe('x')
    expect(handle.pendingChanges).toBe(1)
    // Without a relay, a synced peer confirms (STORE-9.6).
    remove()
    expect(handle.relay).toBe(null)
    handle.doc.getText('t').insert(1, 'y')
    await settle(net, [handle, peer.handle])
    expect(handle.pendingChanges).toBe(0)
    await handle.destroy()
    await peer.handle.destroy()
  })

  it('STORE-9.2, STORE-9.4: content before open and edits during the load are one append after it, with the count', async () => {
    const store = new RecordingStore()
    await store.setMeta(D, PENDING_META.local, '7')
    store.log.length = 0
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'before')
    const opening = openDocument({ docId: 'd', doc, store })
    doc.getText('t').insert(0, 'during ')
    const handle = await opening
    handle.doc.getText('t').insert(0, 'after ')
    await handle.flushed()
    // This session's own count (STORE-9.7): 1 (the content before open) + 1 (the edit during the load) = 2; then
    // the edit after it. The 7 a pre-STORE-9.7 store holds are pending too and stay in their key.
    expect(store.log).toEqual(['append 2', 'append 3'])
    expect(handle.pendingChanges).toBe(10)
    await handle.destroy()
    const stored = await store.load(D)
    expect(stored?.updates.length).toBe(2)
    expect(stored?.meta[PENDING_META.local]).toBe('7')
    expect(storedPendingCount(stored?.meta ?? {})).toBe(10)
  })

  it('STORE-9.7: a pre-STORE-9.7 count (one key) loads as pending, is pushed, and a mark settles it; nothing rewrites the old keys', async () => {
    const net = new MemoryNetwork()
    const relay = await relayOn(net)
    const store = new MemoryDocStore()
    // A store an older version wrote: 3 local changes, 1 of them confirmed, under the keys without a writer suffix.
    const old = new Y.Doc()
    old.getText('t').insert(0, 'old')
    await store.append(D, Y.encodeStateAsUpdate(old), {
      meta: { [PENDING_META.local]: '3', [PENDING_META.confirmed]: '1' },
    })
    const handle = await openDocument({ docId: 'd', store })
    expect(handle.pendingChanges).toBe(2)
    const t = relayTransport(net, handle, relay, 'c')
    t.connect()
    await settle(net, [handle, relay.handle])
    expect(relay.handle.doc.getText('t').toString()).toBe('old')
    expect(handle.pendingChanges).toBe(0)
    const meta = (await store.load(D))?.meta ?? {}
    expect(storedPendingCount(meta)).toBe(0)
    expect(meta[PENDING_META.local]).toBe('3')
    expect(meta[PENDING_META.confirmed]).toBe('1')
    expect(writerValue(meta, PENDING_META.settled)).toBe('=3')
    await handle.destroy()
    await relay.handle.destroy()
  })

  it('STORE-9.6: with persistPending false nothing of the count is written', async () => {
    const store = new RecordingStore()
    const handle = await openDocument({ docId: 'd', store, persistPending: false })
    handle.doc.getText('t').insert(0, 'a')
    await handle.flushed()
    expect(store.log).toEqual(['append -'])
    expect(handle.pendingChanges).toBe(1)
    await handle.destroy()
  })

  it('STORE-9.5: one epoch-changed event per switch; edits to the new document are counted and stored with the count', async () => {
    const net = new MemoryNetwork()
    const authority = await openDocument({ docId: 'd', store: new MemoryDocStore(), persistPending: false })
    const at = net.transport('authority')
    authority.addTransport(at)
    at.connect()
    const store = new RecordingStore()
    // The live mode (COMPACT-8.3): the switch replaces the Y.Doc.
    const handle = await openDocument({ docId: 'd', store, epochs: 'live' })
    const t = net.transport('c')
    net.link(t, at)
    handle.addTransport(t, { relay: true })
    const events: Y.Doc[] = []
    handle.on('epoch-changed', ({ doc, started }) => {
      expect(started).toBe(false)
      events.push(doc)
    })
    const errors: string[] = []
    handle.on('error', ({ error }) => errors.push(error.message))
    handle.doc.getText('t').insert(0, 'hello')
    t.connect()
    await settle(net, [handle, authority])
    expect(handle.pendingChanges).toBe(0)
    const old = handle.doc
    await authority.epochs?.start()
    await settle(net, [handle, authority])
    await handle.epochs?.settled()
    await settle(net, [handle, authority])
    expect(events).toHaveLength(1)
    expect(handle.doc).toBe(events[0])
    expect(handle.doc).not.toBe(old)
    expect(handle.doc.getText('t').toString()).toBe('hello')
    // The switch's own re-applied changes are not local changes.
    expect(handle.pendingChanges).toBe(0)
    store.log.length = 0
    handle.doc.getText('t').insert(5, '!')
    expect(handle.pendingChanges).toBe(1)
    await handle.flushed()
    expect(store.log.filter((l) => l.startsWith('append'))).toEqual(['append 2'])
    await settle(net, [handle, authority])
    expect(authority.doc.getText('t').toString()).toBe('hello!')
    expect(handle.pendingChanges).toBe(0)
    expect(errors).toEqual([])
    await handle.destroy()
    await authority.destroy()
  })

  it('STORE-9.1: a Y.Doc of another yjs copy or an unreadable store rejects, leaving nothing listening', async () => {
    const failing = new MemoryDocStore()
    failing.load = () => Promise.reject(new Error('disk gone'))
    const doc = new Y.Doc()
    await expect(openDocument({ docId: 'd', doc, store: failing })).rejects.toMatchObject({
      code: WeftErrorCode.StoreFailed,
    })
    expect(doc._observers.get('update')?.size ?? 0).toBe(0)
    await expect(openDocument({ docId: 'd', doc: {} as Y.Doc })).rejects.toMatchObject({
      code: WeftErrorCode.InvalidArgument,
    })
  })
})

import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { WeftError, docId, type DocStore } from '@weft/core'
import { MemoryDocStore, MemoryNetwork, type MemoryTransport } from '@weft/core/testing'
import {
  BroadcastChannelTransport,
  openDoc,
  WebSocketTransport,
  type WebSocketConstructor,
} from '../../src/index.js'
import { makeRelay, settle } from './support/memoryRelay.js'

const client = async (net: MemoryNetwork, relay: MemoryTransport, store: DocStore = new MemoryDocStore()) => {
  const t = net.transport('c')
  net.link(t, relay)
  return openDoc({ docId: 'd', store, relay: t, connect: false })
}

/** Whether a promise has settled, without waiting for it. */
const settled = async (p: Promise<unknown>): Promise<boolean> => {
  let done = false
  p.then(
    () => (done = true),
    () => (done = true),
  )
  await new Promise((r) => setImmediate(r))
  return done
}

describe('WeftDoc lifecycle (Yjs provider conventions)', () => {
  it('PROV-5.10 synced and the sync/synced events (boolean payload) follow the handshakes, not the pending count', async () => {
    const net = new MemoryNetwork()
    const relay = await makeRelay(net, 'relay')
    const d = await client(net, relay.transport)
    const sync: unknown[] = []
    const synced: unknown[] = []
    d.on('sync', (v) => sync.push(v))
    d.on('synced', (v) => synced.push(v))
    expect(d.synced).toBe(false)
    d.connect()
    await settle(net)
    expect(d.synced).toBe(true)
    expect(sync).toEqual([true])
    d.doc.getText('t').insert(0, 'x')
    expect(d.status).toBe('syncing') // pending until the relay stored it
    expect(d.synced).toBe(true) // still in sync with the relay, as y-websocket says
    await settle(net)
    d.disconnect()
    expect(d.synced).toBe(false)
    expect(sync).toEqual([true, false])
    expect(synced).toEqual(sync)
    await d.destroy()
  })

  it('PROV-5.11 whenSynced is a promise property: pending while offline, resolved by the first sync', async () => {
    const net = new MemoryNetwork()
    const relay = await makeRelay(net, 'relay')
    relay.doc.getText('t').insert(0, 'from the relay')
    const d = await client(net, relay.transport)
    expect(d.whenSynced).toBeInstanceOf(Promise)
    await settle(net)
    expect(await settled(d.whenSynced)).toBe(false) // offline: nothing synced yet
    d.connect()
    await settle(net)
    await d.whenSynced
    expect(d.doc.getText('t').toString()).toBe('from the relay')
    await d.destroy()
  })

  it('PROV-5.11 whenSynced resolves at once for a document with no transport (the local load is all there is)', async () => {
    const store = new MemoryDocStore()
    const first = await openDoc({ docId: 'd', store })
    first.doc.getText('t').insert(0, 'local')
    await first.whenSaved() // no transport: saved once the local store wrote it
    await first.destroy()
    const d = await openDoc({ docId: 'd', store })
    await d.whenSynced
    expect(d.doc.getText('t').toString()).toBe('local')
    await d.destroy()
  })

  it('PROV-5.11 whenSaved() resolves once the relay durably stored every local change; rejects on destroy', async () => {
    const net = new MemoryNetwork()
    const relay = await makeRelay(net, 'relay')
    const d = await client(net, relay.transport)
    await d.whenSaved() // nothing pending
    d.doc.getText('t').insert(0, 'offline edit')
    const saved = d.whenSaved()
    await settle(net)
    expect(await settled(saved)).toBe(false)
    d.connect()
    await settle(net)
    await saved
    expect(d.pendingChanges).toBe(0)
    // Resolved only once it was in the relay's store, not just in its memory.
    const stored = await relay.store.load(docId('d'))
    const check = new Y.Doc()
    if (stored?.snapshot) Y.applyUpdateV2(check, stored.snapshot)
    for (const u of stored?.updates ?? []) Y.applyUpdate(check, u)
    expect(check.getText('t').toString()).toBe('offline edit')

    d.disconnect()
    d.doc.getText('t').insert(0, 'never sent ')
    const lost = d.whenSaved()
    await d.destroy()
    await expect(lost).rejects.toMatchObject({ code: 'destroyed' })
    await expect(d.whenSaved()).rejects.toBeInstanceOf(WeftError)
  })

  it('PROV-5.12 a transport whose room is not the docId is refused at openDoc, before anything is loaded or connected', async () => {
    let constructed = 0
    const WS = class {
      constructor() {
        constructed++
      }
    } as unknown as WebSocketConstructor
    let loads = 0
    const store = new MemoryDocStore()
    const load = store.load.bind(store)
    store.load = (...args: Parameters<typeof load>) => {
      // The document itself (openDoc also looks up the small entry of an epoch waiting for it, COMPACT-8.2).
      if (args[0] === 'd') loads++
      return load(...args)
    }
    const relay = new WebSocketTransport({
      url: 'ws://127.0.0.1:1/relay',
      room: 'other',
      WebSocketPolyfill: WS,
    })
    const opening = openDoc({ docId: 'd', store, relay })
    await expect(opening).rejects.toBeInstanceOf(WeftError)
    await expect(opening).rejects.toMatchObject({ code: 'invalid-argument' })
    await expect(opening).rejects.toThrow(/room is "other"/)
    const tabs = new BroadcastChannelTransport({ room: 'other' })
    await expect(openDoc({ docId: 'd', transports: [tabs] })).rejects.toMatchObject({
      code: 'invalid-argument',
    })
    expect(loads).toBe(0)
    expect(constructed).toBe(0)
    // The same transports with the document's id as their room are accepted.
    const ok = await openDoc({
      docId: 'd',
      store,
      relay: new WebSocketTransport({ url: 'ws://127.0.0.1:1/relay', room: 'd', WebSocketPolyfill: WS }),
      transports: [new BroadcastChannelTransport({ room: 'd' })],
      connect: false,
    })
    expect(loads).toBe(1)
    await ok.destroy()
  })

  it('PROV-5.14 connect() and disconnect() drive every transport; setOnline stays as a deprecated alias', async () => {
    const net = new MemoryNetwork()
    const relay = await makeRelay(net, 'relay')
    const d = await client(net, relay.transport)
    expect(d.status).toBe('offline')
    d.connect()
    await settle(net)
    expect(d.status).toBe('synced')
    d.disconnect()
    expect(d.status).toBe('offline')
    d.setOnline(true)
    await settle(net)
    expect(d.status).toBe('synced')
    d.setOnline(false)
    expect(d.status).toBe('offline')
    await d.destroy()
  })
})

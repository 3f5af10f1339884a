import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import {
  DocHandle,
  docId,
  OWN_CLIENTS_META,
  PENDING_META,
  WeftError,
  WeftErrorCode,
  type DocStore,
} from '@weft/core'
import { MemoryDocStore, MemoryNetwork, writerValue } from '@weft/core/testing'
import { openDoc } from '../../src/index.js'
import { makeRelay, settle } from './support/memoryRelay.js'

describe('openDoc over the core DocHandle', () => {
  it('PROV-5.16 openDoc is a thin layer over openDocument: the handle owns the pieces, its errors and epochs are re-emitted', async () => {
    const net = new MemoryNetwork()
    const relay = await makeRelay(net, 'relay')
    const t = net.transport('c')
    net.link(t, relay.transport)
    const store = new MemoryDocStore()
    const d = await openDoc({ docId: 'd', store, relay: t })
    expect(d.handle).toBeInstanceOf(DocHandle)
    expect(d.session).toBe(d.handle.session)
    expect(d.persistence).toBe(d.handle.persistence)
    expect(d.epochs).toBe(d.handle.epochs)
    expect(d.doc).toBe(d.handle.doc)
    expect(d.handle.relay).toBe(t)
    d.doc.getText('t').insert(0, 'x')
    expect(d.pendingChanges).toBe(d.handle.pendingChanges)
    expect(d.pendingChanges).toBe(1)
    await settle(net)
    expect(d.status).toBe('synced')
    expect(d.pendingChanges).toBe(0)
    // A store fault of the handle's persistence is the WeftDoc's error event.
    const errors: string[] = []
    d.on('error', ({ error }) => errors.push(error.code))
    d.handle.emit('error', [{ error: new WeftError(WeftErrorCode.StoreFailed, 'disk') }])
    expect(errors).toEqual(['store-failed'])
    await d.destroy()
    expect(t.status).toBe('disconnected')
    // STORE-9.7, RULES-5.14: a count the relay settled removes its own keys when the handle is destroyed, and so
    // does the record of its client ids; a clean session leaves no key of its own.
    const meta = (await store.load(docId('d')))?.meta
    expect(writerValue(meta, PENDING_META.local)).toBe(undefined)
    expect(writerValue(meta, PENDING_META.confirmed)).toBe(undefined)
    expect(writerValue(meta, OWN_CLIENTS_META)).toBe(undefined)
  })

  it('PROV-5.16 a document with content before open counts it as one pending change until the relay stored it', async () => {
    const net = new MemoryNetwork()
    const relay = await makeRelay(net, 'relay')
    const t = net.transport('c')
    net.link(t, relay.transport)
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'draft')
    const store: DocStore = new MemoryDocStore()
    const d = await openDoc({ docId: 'd', doc, store, relay: t, connect: false })
    expect(d.pendingChanges).toBe(1)
    d.connect()
    await settle(net)
    expect(relay.doc.getText('t').toString()).toBe('draft')
    expect(d.pendingChanges).toBe(0)
    expect(d.status).toBe('synced')
    await d.destroy()
  })
})

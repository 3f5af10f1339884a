import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { DocPersistence, EpochManager, SyncSession, docId, type DocStore } from '@weft/core'
import { countItems } from '@weft/core/epochs'
import { MemoryDocStore, MemoryNetwork, type MemoryTransport } from '@weft/core/testing'
import { openDoc, type SyncStatus, type WeftDoc } from '../../src/index.js'
import { makeRelay, settle } from './support/memoryRelay.js'

const client = async (
  net: MemoryNetwork,
  name: string,
  relay: MemoryTransport,
  store: DocStore,
  epochs?: 'live',
) => {
  const t = net.transport(name)
  net.link(t, relay)
  const statuses: SyncStatus[] = []
  const d = await openDoc({ docId: 'd', store, relay: t, connect: false, ...(epochs ? { epochs } : {}) })
  d.on('status', ({ status }) => statuses.push(status))
  return { d, t, statuses }
}

describe('WeftDoc', () => {
  it('PROV-5.1 status goes offline -> syncing -> synced, and a local edit is pending until the relay stored it', async () => {
    const net = new MemoryNetwork()
    const relay = await makeRelay(net, 'relay')
    const { d, statuses } = await client(net, 'c', relay.transport, new MemoryDocStore())
    expect(d.status).toBe('offline')
    d.connect()
    await settle(net)
    expect(d.status).toBe('synced')
    expect(statuses).toContain('syncing')
    d.doc.getText('t').insert(0, 'hello')
    expect(d.pendingChanges).toBe(1)
    expect(d.status).toBe('syncing')
    await settle(net)
    expect(relay.doc.getText('t').toString()).toBe('hello')
    expect(d.pendingChanges).toBe(0)
    expect(d.status).toBe('synced')
    expect(d.paths.map((p) => [p.kind, p.weft, p.synced])).toEqual([['memory', true, true]])
    await d.destroy()
  })

  it('PROV-5.2 synced is never reported while a change is pending (every status event checked)', async () => {
    const net = new MemoryNetwork()
    const relay = await makeRelay(net, 'relay')
    const { d } = await client(net, 'c', relay.transport, new MemoryDocStore())
    const bad: string[] = []
    d.on('status', ({ status, pendingChanges }) => {
      if (status === 'synced' && pendingChanges > 0) bad.push(`${status}/${pendingChanges}`)
    })
    d.connect()
    for (let i = 0; i < 20; i++) {
      d.doc.getText('t').insert(0, String(i))
      if (i % 3 === 0) await settle(net)
    }
    await settle(net)
    expect(bad).toEqual([])
    expect(d.status).toBe('synced')
    await d.destroy()
  })

  it('PROV-5.3 the pending count survives a reload; the change is pushed and confirmed at the next connection', async () => {
    const net = new MemoryNetwork()
    const relay = await makeRelay(net, 'relay')
    const store = new MemoryDocStore()
    const first = await client(net, 'c1', relay.transport, store)
    first.d.connect()
    await settle(net)
    first.d.disconnect()
    first.d.doc.getText('t').insert(0, 'offline edit')
    expect(first.d.pendingChanges).toBe(1)
    await first.d.destroy() // the tab closes
    const second = await client(net, 'c2', relay.transport, store)
    expect(second.d.doc.getText('t').toString()).toBe('offline edit')
    expect(second.d.pendingChanges).toBe(1)
    expect(second.d.status).toBe('offline')
    second.d.connect()
    await settle(net)
    expect(relay.doc.getText('t').toString()).toBe('offline edit')
    expect(second.d.pendingChanges).toBe(0)
    expect(second.d.status).toBe('synced')
    await second.d.destroy()
  })

  it('PROV-5.4 without a relay, a change counts as received once a synced peer got it', async () => {
    const net = new MemoryNetwork()
    const ta = net.transport('a')
    const tb = net.transport('b')
    net.link(ta, tb)
    const a = await openDoc({ docId: 'd', transports: [ta], store: new MemoryDocStore() })
    const b: WeftDoc = await openDoc({ docId: 'd', transports: [tb] })
    a.doc.getText('t').insert(0, 'x')
    expect(a.pendingChanges).toBe(1)
    await settle(net)
    expect(b.doc.getText('t').toString()).toBe('x')
    expect(a.pendingChanges).toBe(0)
    expect(a.status).toBe('synced')
    await a.destroy()
    await b.destroy()
  })

  it("PROV-5.6 an epoch reset by the authority (epochs: 'live'): offline edits are kept, the app gets the new Y.Doc, pending returns to 0", async () => {
    const net = new MemoryNetwork()
    // The authority: a storing peer with an EpochManager (the role a relay or an always-on node plays).
    const doc = new Y.Doc()
    const persistence = await DocPersistence.open({ doc, store: new MemoryDocStore(), docId: docId('d') })
    const epochs = new EpochManager({ persistence })
    const authority = new SyncSession({
      doc,
      durable: () => persistence.flushed(),
      epoch: epochs.record,
      epochLineage: epochs.lineage,
    })
    epochs.bind(authority)
    const hub = net.transport('authority')
    authority.addTransport(hub)
    hub.connect()
    const store = new MemoryDocStore()
    // The live mode (COMPACT-8.3): the app gets the new Y.Doc at once.
    const { d } = await client(net, 'c', hub, store, 'live')
    d.connect()
    const board = () => d.doc.getMap<number>('board')
    for (let i = 0; i < 50; i++) board().set(`s${i % 5}`, i)
    await settle(net)
    expect(d.pendingChanges).toBe(0)

    d.disconnect()
    board().set('offline', 1)
    expect(d.pendingChanges).toBe(1)
    const before = d.doc
    const changed = new Promise<Y.Doc>((resolve) => d.on('epoch-changed', ({ doc: next }) => resolve(next)))
    const record = await epochs.start()
    d.connect()
    await settle(net)
    const next = await changed
    expect(next).not.toBe(before)
    expect(d.doc).toBe(next)
    expect(d.session.epoch).toBe(record.id)
    expect(d.doc.getMap('board').toJSON()).toEqual({ s0: 45, s1: 46, s2: 47, s3: 48, s4: 49, offline: 1 })
    expect(authority.doc.getMap('board').toJSON()).toEqual(d.doc.getMap('board').toJSON())
    expect(countItems(d.doc).deletedItems).toBe(0)
    expect(d.pendingChanges).toBe(0)
    expect(d.status).toBe('synced')
    // Edits in the new document sync and are counted as before.
    board().set('after', 2)
    expect(d.pendingChanges).toBe(1)
    await settle(net)
    expect(authority.doc.getMap('board').get('after')).toBe(2)
    expect(d.pendingChanges).toBe(0)
    // Reopened from its store, the client is in the new epoch.
    await d.destroy()
    const again = await openDoc({ docId: 'd', store, connect: false })
    expect(again.session.epoch).toBe(record.id)
    expect(again.doc.getMap('board').get('offline')).toBe(1)
    await again.destroy()
    epochs.destroy()
    authority.destroy()
    await persistence.destroy()
  })
})

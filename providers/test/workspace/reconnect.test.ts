import { describe, expect, it } from 'vitest'
import { MemoryDocStore, MemoryNetwork } from '@weft/core/testing'
import { openWorkspace } from '../../src/index.js'
import { MemoryWorkspaceRelay, settle } from './support/memoryWorkspaceRelay.js'

const N = 20
const ids = Array.from({ length: N }, (_, i) => `doc-${String(i).padStart(2, '0')}`)

describe('workspace reconnect', () => {
  it('WS-CLIENT-4.6, WS-CLIENT-LINK-5: a replica in sync that reconnects after one document changed elsewhere syncs only that document', async () => {
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    const linkA = relay.link('team', 'a')
    const linkB = relay.link('team', 'b')
    const a = await openWorkspace({ id: 'team', store: new MemoryDocStore(), relay: linkA, preload: 'all' })
    const b = await openWorkspace({ id: 'team', store: new MemoryDocStore(), relay: linkB, preload: 'all' })
    await settle(net)
    for (const id of ids) {
      b.create({ id, title: id })
      const doc = await b.open(id)
      doc.doc.getText('t').insert(0, `text of ${id}`)
      await settle(net)
      await b.close(id)
      await settle(net)
    }
    await settle(net)
    await a.flushed()
    await b.flushed()
    await settle(net)
    expect(a.status).toBe('synced')
    expect(linkA.cursor).toBe(await relay.store.workspaceSeq('team'))

    a.disconnect()
    const doc = await b.open('doc-07')
    doc.doc.getText('t').insert(0, 'changed ')
    await settle(net)
    await b.close('doc-07')
    await settle(net)
    await b.flushed()
    await settle(net)

    const asked = linkA.asked.length
    a.connect()
    await settle(net)
    await a.flushed()
    await settle(net)
    expect(a.status).toBe('synced')
    // Only the changed document is loaded and subscribed again (the catalogue keeps its own subscription).
    expect(linkA.asked.slice(asked)).toEqual(['doc-07'])
    expect(linkA.cursor).toBe(await relay.store.workspaceSeq('team'))
    await a.destroy()
    await b.destroy()
    await relay.destroy()
  })
})

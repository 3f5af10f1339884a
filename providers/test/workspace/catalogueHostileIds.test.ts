/**
 * WS-CLIENT-1.7: records a peer writes with plain Yjs under ids that are not document ids are left out of the list
 * and the preload set, so an app never lists an entry it cannot open and a preload never fails on one.
 */
import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { MemoryDocStore, MemoryNetwork } from '@weft/core/testing'
import { openWorkspace } from '../../src/index.js'
import { MemoryWorkspaceRelay, settle } from './support/memoryWorkspaceRelay.js'

const W = 'team'
const BAD_IDS = ['', '.dot', 'a~b', 'y'.repeat(5_000)]

describe('catalogue records under ids that are not document ids (WS-CLIENT-1.7)', () => {
  it('WS-CLIENT-1.7: a peer writes records under bad ids: they are not listed, every listed entry opens, preload "all" reports no error', async () => {
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    for (const id of ['.catalogue', 'ok']) await relay.doc(`${W}/${id}`)
    const a = await openWorkspace({ id: W, store: new MemoryDocStore(), relay: relay.link(W, 'a') })
    expect(a.create({ id: 'ok', title: 'fine' }).ok).toBe(true)
    await settle(net)
    // The peer copies the valid record's fields under each bad id, with plain Yjs (no schema, no id check).
    const documents = a.catalogue.doc.getMap<Y.Map<unknown>>('documents')
    const valid = documents.get('ok')!.toJSON() as Record<string, unknown>
    a.catalogue.doc.transact(() => {
      for (const id of BAD_IDS) {
        const record = new Y.Map<unknown>()
        for (const [k, v] of Object.entries(valid)) if (!(v instanceof Object)) record.set(k, v)
        documents.set(id, record)
      }
    })
    await settle(net)

    const errors: unknown[] = []
    const b = await openWorkspace({
      id: W,
      store: new MemoryDocStore(),
      relay: relay.link(W, 'b'),
      preload: 'all',
    })
    b.on('error', ({ error }) => errors.push(error))
    await settle(net)
    expect(b.catalogue.doc.getMap('documents').size).toBe(1 + BAD_IDS.length)
    for (const ws of [a, b]) {
      expect(ws.list.entries.map((e) => e.id)).toEqual(['ok'])
      for (const id of BAD_IDS) expect(ws.list.get(id)).toBeUndefined()
      for (const entry of ws.list.entries) {
        await ws.open(entry.id)
        await ws.close(entry.id)
      }
    }
    expect(errors).toEqual([])
    await a.destroy()
    await b.destroy()
    await relay.destroy()
  })
})

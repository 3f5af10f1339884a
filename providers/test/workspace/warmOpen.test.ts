import { afterEach, describe, expect, it, vi } from 'vitest'
import * as Y from 'yjs'
import { DocPersistence, openDocument } from '@weft/core'
import { MemoryDocStore, MemoryNetwork } from '@weft/core/testing'
import { openWorkspace } from '../../src/index.js'
import { MemoryWorkspaceRelay, settle } from './support/memoryWorkspaceRelay.js'

afterEach(() => {
  vi.restoreAllMocks()
})

/** Counts the `update` events Yjs builds for a store's load (origin: the persistence) while `run` runs. */
const loadUpdates = async <T>(run: () => Promise<T>): Promise<{ result: T; count: number }> => {
  let count = 0
  const emit = Y.Doc.prototype.emit
  vi.spyOn(Y.Doc.prototype, 'emit').mockImplementation(function (this: Y.Doc, name: string, args: unknown[]) {
    if (name === 'update' && args[1] instanceof DocPersistence) count++
    return emit.call(this, name as never, args as never)
  })
  const result = await run()
  vi.restoreAllMocks()
  return { result, count }
}

describe('warm open (issue #15: the catalogue loaded without an unused update event)', () => {
  it('WS-CLIENT-1.1: a warm open applies the stored catalogue without building an update event; the list is complete, then live', async () => {
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    const store = new MemoryDocStore()
    const a = await openWorkspace({ id: 'team', store, relay: relay.relayFor('a') })
    for (let i = 0; i < 50; i++) expect(a.create({ title: `d${i}`, id: `d${i}` }).ok).toBe(true)
    await settle(net)
    await a.flushed()
    await a.destroy()

    const { result: again, count } = await loadUpdates(() =>
      openWorkspace({ id: 'team', store, relay: relay.relayFor('a') }),
    )
    expect(count).toBe(0)
    expect(again.list.entries).toHaveLength(50)
    expect(again.catalogue.pendingChanges).toBe(0)
    // live: another replica's create arrives in the list
    const b = await openWorkspace({ id: 'team', store: new MemoryDocStore(), relay: relay.relayFor('b') })
    await settle(net)
    const changed = new Promise<readonly string[]>((resolve) =>
      again.list.on('change', ({ ids }) => resolve(ids)),
    )
    expect(b.create({ title: 'new', id: 'new' }).ok).toBe(true)
    await settle(net)
    expect(await changed).toContain('new')
    expect(again.list.entries).toHaveLength(51)
    // and a local change is still stored and counted
    expect(again.create({ title: 'mine', id: 'mine' }).ok).toBe(true)
    expect(again.catalogue.pendingChanges).toBeGreaterThan(0)
    await again.flushed()
    await b.destroy()
    await again.destroy()
    const third = await openWorkspace({ id: 'team', store, connect: false })
    expect(third.list.entries).toHaveLength(52)
    await third.destroy()
    await relay.destroy()
  })

  it("STORE-7.1: a doc with the app's own update listener still hears the load, and pending changes survive a warm open", async () => {
    const store = new MemoryDocStore()
    const first = await openDocument({ docId: 'n', store })
    first.doc.getText('t').insert(0, 'hello')
    await first.persistence?.flushed()
    await first.destroy()

    const doc = new Y.Doc()
    const heard: unknown[] = []
    doc.on('update', (_u: Uint8Array, origin: unknown) => heard.push(origin))
    const again = await openDocument({ docId: 'n', store, doc })
    expect(heard).toHaveLength(1)
    expect(heard[0]).toBeInstanceOf(DocPersistence)
    expect(doc.getText('t').toString()).toBe('hello')
    expect(again.pendingChanges).toBe(1) // the stored count (nothing acknowledged it)
    await again.destroy()

    const { result: quiet, count } = await loadUpdates(() => openDocument({ docId: 'n', store }))
    expect(count).toBe(0)
    expect(quiet.doc.getText('t').toString()).toBe('hello')
    expect(quiet.pendingChanges).toBe(1)
    quiet.doc.getText('t').insert(5, '!')
    expect(quiet.pendingChanges).toBe(2)
    await quiet.persistence?.flushed()
    await quiet.destroy()
    const last = await openDocument({ docId: 'n', store })
    expect(last.doc.getText('t').toString()).toBe('hello!')
    expect(last.pendingChanges).toBe(2)
    await last.destroy()
  })
})

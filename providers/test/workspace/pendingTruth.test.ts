/**
 * The workspace's pending count tells the truth (issue #15 item 5): after a crash with a changed document still
 * loaded (WS-CLIENT-6.4), across a close and reopen without transports (WS-CLIENT-6.4), and once the relay refused a
 * document for good (WS-CLIENT-6.5). A crash is a workspace dropped without `destroy()` (its document never closed)
 * and a new one opened over the same store, as a restarted process would.
 */
import { describe, expect, it } from 'vitest'
import { docId, workspaceDocKeys } from '@weft/core'
import { MemoryDocStore, MemoryNetwork } from '@weft/core/testing'
import { openWorkspace } from '../../src/index.js'
import { storedPending } from '../../src/workspace/LocalIndex.js'
import { MemoryWorkspaceRelay, settle } from './support/memoryWorkspaceRelay.js'

const W = 'team'

describe('workspace pending count (WS-CLIENT-6.4, 6.5)', () => {
  it('WS-CLIENT-6.4: a document left loaded by a crash counts its stored pending changes and is pushed when online', async () => {
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    const store = new MemoryDocStore()
    const before = await openWorkspace({ id: W, store, relay: relay.relayFor('a') })
    await settle(net)
    before.disconnect()
    before.create({ id: 'x' })
    const x = await before.open('x')
    x.doc.getText('t').insert(0, 'offline edit')
    await x.handle.flushed()
    await before.catalogue.handle.flushed()
    await before.flushed()
    expect(storedPending(await store.load(docId(`${W}/x`)))).toBe(1)
    // The crash: `before` is dropped with x loaded (never closed, never destroyed).
    const after = await openWorkspace({ id: W, store, relay: relay.relayFor('b'), connect: false })
    expect(after.pendingChanges).toBe(after.catalogue.pendingChanges + 1)
    expect(after.catalogue.pendingChanges).toBeGreaterThan(0)
    after.connect()
    await settle(net)
    await after.flushed()
    await settle(net)
    expect((await relay.doc(`${W}/x`)).getText('t').toString()).toBe('offline edit')
    expect(after.pendingChanges).toBe(0)
    expect(after.status).toBe('synced')
    expect(after.loaded).toEqual([])
    // Closed now: the loaded mark is cleared and the recorded count is the stored one (0).
    await after.destroy()
    const again = await openWorkspace({ id: W, store, connect: false })
    expect(again.pendingChanges).toBe(0)
    await again.destroy()
    await relay.destroy()
  })

  it('WS-CLIENT-6.4: without transports a closed document counts what its store holds: opening it changes nothing', async () => {
    const store = new MemoryDocStore()
    const ws = await openWorkspace({ id: W, store })
    ws.create({ id: 'x' })
    const x = await ws.open('x')
    for (const s of ['a', 'b', 'c']) x.doc.getText('t').insert(0, s) // three local changes, counted in memory only
    await ws.close('x')
    await ws.flushed()
    const closed = ws.pendingChanges
    const again = await ws.open('x')
    expect(ws.pendingChanges).toBe(closed)
    expect(again.pendingChanges).toBe(closed - ws.catalogue.pendingChanges)
    await ws.close('x')
    await ws.destroy()
    const reopened = await openWorkspace({ id: W, store })
    const catalogue = reopened.catalogue.pendingChanges
    const before = reopened.pendingChanges
    const third = await reopened.open('x')
    expect(reopened.pendingChanges).toBe(before)
    expect(third.pendingChanges).toBe(before - catalogue)
    await reopened.destroy()
  })

  it('WS-CLIENT-6.5: an open document the relay refuses for good is reported and no longer holds the workspace in syncing', async () => {
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    for (const id of ['.catalogue', 'd']) await relay.doc(`${W}/${id}`)
    let clock = 1_000
    const replica = async (name: string) => {
      const store = new MemoryDocStore()
      // The client keeps deleted data 30 days, the relay purges after 1 day (shorter: WS-PURGE-5 refuses first).
      const ws = await openWorkspace({
        id: W,
        store,
        relay: relay.link(W, name),
        retention: 30 * 864e5,
        now: () => clock,
      })
      return { store, ws }
    }
    const a = await replica('a')
    const b = await replica('b')
    await settle(net)
    a.ws.create({ id: 'd' })
    const d = await a.ws.open('d')
    d.doc.getText('t').insert(0, 'online;')
    await settle(net)
    a.ws.disconnect()
    d.doc.getText('t').insert(7, 'OFFLINE;')
    expect(d.pendingChanges).toBe(1)
    await settle(net)
    expect(b.ws.list.get('d')).toBeDefined()
    clock = 2_000
    expect(b.ws.delete('d')).toEqual({ ok: true })
    await settle(net)
    clock = 2_000 + 864e5 + 1
    expect(await relay.purge(W, 864e5, clock)).toEqual([`${W}/d`])
    const refusals: Array<{ docId: string; pendingChanges: number; code: number }> = []
    a.ws.on('refused', (e) => refusals.push(e))
    a.ws.connect() // d is still open: its transport is refused (Forbidden, final)
    await settle(net)
    await a.ws.flushed()
    expect(refusals).toEqual([{ docId: 'd', pendingChanges: 1, code: 4005 }])
    expect(a.ws.list.get('d')?.deleted).toBe(true)
    expect(d.pendingChanges).toBe(1) // the document itself still says what was not confirmed
    expect(a.ws.pendingChanges).toBe(0)
    expect(a.ws.status).toBe('synced')
    // Closed: refused as deleted, it is purged at once (WS-PURGE-11), its refused change with it.
    await a.ws.close('d')
    await a.ws.flushed()
    await settle(net) // the close's record of the change (WS-CLIENT-1.4) is a catalogue change to confirm
    expect(workspaceDocKeys(await a.store.list(), W, 'd')).toEqual([])
    expect(a.ws.pendingChanges).toBe(0)
    expect(a.ws.status).toBe('synced')
    for (const { ws } of [a, b]) await ws.destroy()
    await relay.destroy()
  })
})

import { describe, expect, it } from 'vitest'
import { docId, storedPendingCount } from '@weft/core'
import { MemoryDocStore, MemoryNetwork } from '@weft/core/testing'
import { openWorkspace, planEviction } from '../../src/index.js'
import { MemoryWorkspaceRelay, settle } from './support/memoryWorkspaceRelay.js'

const stored = async (store: MemoryDocStore) =>
  (await store.list()).filter((id) => /^team\/[a-z]$/.test(id)).sort()

describe('workspace eviction', () => {
  it('WS-CLIENT-5.1: planEviction removes the least recently opened first, never a kept one, until the budget holds', () => {
    const c = (id: string, bytes: number, lastOpened: number, keep = false) => ({
      id,
      bytes,
      lastOpened,
      keep,
    })
    expect(planEviction([c('a', 10, 1), c('b', 10, 2)], 20)).toEqual([])
    expect(planEviction([c('a', 10, 1), c('b', 10, 2), c('c', 10, 3)], 20)).toEqual(['a'])
    expect(planEviction([c('a', 10, 1, true), c('b', 10, 2), c('c', 10, 3)], 15)).toEqual(['b', 'c'])
    expect(planEviction([c('a', 30, 1, true), c('b', 10, 2)], 15)).toEqual(['b'])
  })

  it('WS-CLIENT-5.1, 5.2: over the budget the least recently opened documents leave the store, never one with pending changes', async () => {
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    const factory = relay.relayFor('c')
    // Document x's relay connection never reaches the relay: its changes stay pending.
    const lonely = net.transport('lonely')
    const store = new MemoryDocStore()
    let clock = 0
    const ws = await openWorkspace({
      id: 'team',
      store,
      relay: (room) => (room === 'team/x' ? lonely : factory(room)),
      budget: 2_500,
      now: () => ++clock,
    })
    await settle(net)
    const write = async (id: string) => {
      ws.create({ id })
      const doc = await ws.open(id)
      doc.doc.getText('t').insert(0, id.repeat(1_000))
      await settle(net)
      await ws.close(id)
      await settle(net)
      await ws.flushed()
    }
    await write('x') // the oldest, pending
    await write('y')
    expect(await stored(store)).toEqual(['team/x', 'team/y'])
    await write('z') // over the budget: y goes (x is older but pending)
    expect(await stored(store)).toEqual(['team/x', 'team/z'])
    expect(ws.list.get('y')).toMatchObject({ local: false })
    expect(ws.list.get('x')).toMatchObject({ local: true })
    expect(ws.pendingChanges).toBeGreaterThan(0)
    const meta = (await store.load(docId('team/x')))!.meta
    expect(storedPendingCount(meta)).toBeGreaterThan(0)
    // An evicted document is fetched again when opened.
    const y = await ws.open('y')
    expect(y.doc.getText('t').length).toBe(0)
    await settle(net)
    expect(y.doc.getText('t').toString()).toBe('y'.repeat(1_000))
    await ws.close('y')
    await settle(net)
    await ws.flushed()
    // Now z is the least recently opened one that may go.
    expect(await stored(store)).toEqual(['team/x', 'team/y'])
    await ws.destroy()
    await relay.destroy()
  })

  it('WS-CLIENT-5.1: an open or preloaded document is never evicted', async () => {
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    const store = new MemoryDocStore()
    let clock = 0
    const ws = await openWorkspace({
      id: 'team',
      store,
      relay: relay.relayFor('c'),
      budget: 100,
      preload: { pinned: ['p'] },
      now: () => ++clock,
    })
    await settle(net)
    ws.create({ id: 'p' })
    ws.create({ id: 'o' })
    ws.create({ id: 'q' })
    const open = await ws.open('o')
    open.doc.getText('t').insert(0, 'o'.repeat(500))
    for (const id of ['p', 'q']) {
      const d = await ws.open(id)
      d.doc.getText('t').insert(0, id.repeat(500))
      await settle(net)
      await ws.close(id)
    }
    await settle(net)
    await ws.flushed()
    expect(await stored(store)).toEqual(['team/o', 'team/p'])
    await ws.close('o')
    await settle(net)
    await ws.flushed()
    expect(await stored(store)).toEqual(['team/p'])
    await ws.destroy()
    await relay.destroy()
  })
})

import { describe, expect, it } from 'vitest'
import { docId, storedPendingCount } from '@weft/core'
import { MemoryDocStore, MemoryNetwork } from '@weft/core/testing'
import { WorkspaceBroadcast, openWorkspace, type Workspace } from '../../src/index.js'

/** Resolves once `check()` holds, checked after each list change of `ws`. */
const listed = (ws: Workspace, check: () => boolean): Promise<void> =>
  new Promise((resolve) => {
    const test = () => {
      if (!check()) return
      ws.list.off('change', test)
      resolve()
    }
    ws.list.on('change', test)
    test()
  })

describe('workspace eviction and another tab’s changes', () => {
  it('WS-CLIENT-5.1, STORE-9.9: a document holding changes of a tab that crashed before storing them is never evicted', async () => {
    const net = new MemoryNetwork() // the relay is down: its transports are never linked
    const prefix = `weft-test-${Math.random()}:`
    const store = new MemoryDocStore()
    const tab = (own: MemoryDocStore) =>
      openWorkspace({
        id: 'team',
        store: own,
        relay: (room) => net.transport(`${room}-${Math.random()}`),
        transports: [new WorkspaceBroadcast({ workspace: 'team', prefix })],
        budget: 1,
      })
    const a = await tab(store)
    // Tab B's writes never commit (it is killed before its own append): its store is not the shared one.
    const b = await tab(new MemoryDocStore())
    a.create({ id: 'd' })
    const inA = await a.open('d')
    await listed(b, () => b.list.get('d') !== undefined)
    const inB = await b.open('d')
    const text = inA.doc.getText('t')
    const all = new Promise<void>((resolve) => {
      const check = () => {
        if (text.length < 200) return
        text.unobserve(check)
        resolve()
      }
      text.observe(check)
    })
    for (let i = 0; i < 200; i++) inB.doc.getText('t').insert(0, 'x')
    await all
    expect(inA.pendingChanges).toBeGreaterThanOrEqual(1)
    await a.close('d')
    await a.flushed()
    const kept = await store.load(docId('team/d'))
    expect(kept).not.toBeNull()
    expect(storedPendingCount(kept?.meta ?? {})).toBeGreaterThanOrEqual(1)
    expect(a.list.get('d')).toMatchObject({ local: true })
    await b.destroy()
    await a.destroy()
  })
})

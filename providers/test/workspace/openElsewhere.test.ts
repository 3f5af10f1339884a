/**
 * Workspaces sharing one store (tabs over one IndexedDB, here two workspaces of one process over one store: the
 * per-process fallback of the open locks) see which documents the other has open (issue #15 item 4): eviction skips
 * them (WS-CLIENT-5.3) and closing one keeps the other's loaded mark (WS-CLIENT-6.6).
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { docId, type DocStore } from '@weft/core'
import { MemoryDocStore, MemoryNetwork } from '@weft/core/testing'
import { openWorkspace } from '../../src/index.js'
import { storedPending } from '../../src/workspace/LocalIndex.js'
import { processOpenLocks, webOpenLocks } from '../../src/workspace/OpenLocks.js'
import { MemoryWorkspaceRelay, settle } from './support/memoryWorkspaceRelay.js'

const storedText = async (store: DocStore, id: string): Promise<string | null> => {
  const s = await store.load(docId(id))
  if (!s) return null
  const d = new Y.Doc()
  if (s.snapshot) Y.applyUpdateV2(d, s.snapshot)
  for (const u of s.updates) Y.applyUpdate(d, u)
  return d.getText('t').toString()
}

describe('workspaces sharing one store (WS-CLIENT-5.3, 6.6)', () => {
  it('WS-CLIENT-5.3: eviction in one workspace skips a document open in another over the same store', async () => {
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    const store = new MemoryDocStore()
    let clock = 0
    const a = await openWorkspace({
      id: 'team',
      store,
      relay: relay.relayFor('a'),
      budget: 2_500,
      now: () => ++clock,
    })
    await settle(net)
    const write = async (id: string) => {
      a.create({ id })
      const doc = await a.open(id)
      doc.doc.getText('t').insert(0, id.repeat(1_000))
      await settle(net)
      await a.close(id)
      await settle(net)
      await a.flushed()
    }
    await write('y')
    await write('w')
    // Tab B holds y open, offline for y, without editing it.
    const lonely = net.transport('lonely')
    const b = await openWorkspace({
      id: 'team',
      store,
      relay: (room) => (room === 'team/y' ? lonely : relay.relayFor('b')(room)),
      now: () => ++clock,
    })
    await settle(net)
    const by = await b.open('y')
    await write('z') // over the budget: y is the least recently opened in A
    expect(await storedText(store, 'team/y')).toBe('y'.repeat(1_000))
    expect(a.list.get('y')).toMatchObject({ local: true })
    expect(a.list.get('w')).toMatchObject({ local: false }) // the next least recently opened went instead
    // B's edit lands on the whole stored document: a fresh tab, offline, reads all of it.
    by.doc.getText('t').insert(0, 'B ')
    await by.handle.flushed()
    const c = await openWorkspace({ id: 'team', store, relay: (room) => net.transport(`c-${room}`) })
    const cy = await c.open('y')
    expect(cy.doc.getText('t').toString()).toBe('B ' + 'y'.repeat(1_000))
    await Promise.all([a.destroy(), b.destroy(), c.destroy()])
    await relay.destroy()
  }, 30_000)

  it("WS-CLIENT-6.6: closing a document keeps the loaded mark of another workspace that has it open; that one's crash leaves a truthful count", async () => {
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    const store = new MemoryDocStore()
    const a = await openWorkspace({ id: 'team', store, relay: relay.relayFor('a'), connect: false })
    a.create({ id: 'x' })
    await a.flushed()
    const b = await openWorkspace({ id: 'team', store, relay: relay.relayFor('b'), connect: false })
    await a.open('x')
    const bx = await b.open('x')
    await a.close('x') // A closes x while B still has it open
    await a.flushed()
    bx.doc.getText('t').insert(0, 'edit in B')
    await bx.handle.flushed()
    await b.flushed()
    expect(storedPending(await store.load(docId('team/x')))).toBe(1)
    // B crashes (dropped, never closed): a restart reads x's stored count.
    const after = await openWorkspace({ id: 'team', store, connect: false })
    expect(after.pendingChanges).toBe(after.catalogue.pendingChanges + 1)
    await Promise.all([a.destroy(), after.destroy()])
    await relay.destroy()
  })
})

describe('open locks (WS-CLIENT-5.3)', () => {
  it('WS-CLIENT-5.3: the per-process registry grants the exclusive check only while no one holds the name', async () => {
    const locks = processOpenLocks()
    const release = await locks.hold('n')
    expect(await locks.ifFree('n', () => Promise.resolve('ran'))).toBeUndefined()
    release()
    expect(await locks.ifFree('n', () => Promise.resolve('ran'))).toBe('ran')
    // A hold waits for an exclusive section to end.
    let end!: () => void
    const section = locks.ifFree('n', () => new Promise<string>((resolve) => (end = () => resolve('done'))))
    let held = false
    const holding = locks.hold('n').then((r) => {
      held = true
      return r
    })
    await Promise.resolve()
    expect(held).toBe(false)
    end()
    expect(await section).toBe('done')
    ;(await holding)()
    expect(held).toBe(true)
  })

  it('WS-CLIENT-5.3: over navigator.locks it asks for a shared lock while open and an exclusive one with ifAvailable', async () => {
    const requests: Array<{ name: string; mode?: string; ifAvailable?: boolean }> = []
    const sharedHolders = new Map<string, number>()
    const fake = {
      request<T>(
        name: string,
        options: { mode?: 'shared' | 'exclusive'; ifAvailable?: boolean },
        callback: (lock: unknown) => Promise<T> | T,
      ): Promise<T> {
        requests.push({ name, ...options })
        if (options.mode === 'shared') {
          sharedHolders.set(name, (sharedHolders.get(name) ?? 0) + 1)
          return Promise.resolve(callback({ name })).finally(() =>
            sharedHolders.set(name, (sharedHolders.get(name) ?? 1) - 1),
          )
        }
        return Promise.resolve(callback((sharedHolders.get(name) ?? 0) > 0 ? null : { name }))
      },
    }
    const locks = webOpenLocks(fake)
    const release = await locks.hold('n')
    expect(await locks.ifFree('n', () => Promise.resolve(1))).toBeUndefined()
    release()
    await Promise.resolve()
    await Promise.resolve()
    expect(await locks.ifFree('n', () => Promise.resolve(1))).toBe(1)
    expect(requests).toEqual([
      { name: 'n', mode: 'shared' },
      { name: 'n', mode: 'exclusive', ifAvailable: true },
      { name: 'n', mode: 'exclusive', ifAvailable: true },
    ])
  })
})

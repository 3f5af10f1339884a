import { describe, expect, it, vi } from 'vitest'
import * as Y from 'yjs'
import { docId, type DocStore } from '@weft/core'
import { MemoryDocStore, MemoryNetwork } from '@weft/core/testing'
import { openWorkspace } from '../../src/index.js'
import { MemoryWorkspaceRelay, settle } from './support/memoryWorkspaceRelay.js'

// The tabs here do not see each other's open documents (WS-CLIENT-5.3), as two processes sharing one SQLite file:
// only the conditional remove guards the edit.
vi.mock('../../src/workspace/OpenLocks.js', async (original) => ({
  ...(await original<object>()),
  defaultOpenLocks: () => ({
    hold: () => Promise.resolve(() => {}),
    ifFree: <T>(_name: string, fn: () => Promise<T>) => fn(),
  }),
}))

const storedText = async (store: DocStore, id: string): Promise<string | null> => {
  const s = await store.load(docId(id))
  if (!s) return null
  const d = new Y.Doc()
  if (s.snapshot) Y.applyUpdateV2(d, s.snapshot)
  for (const u of s.updates) Y.applyUpdate(d, u)
  return d.getText('t').toString()
}

/** `inner` seen through a proxy whose `load` and `append` can be observed. */
const observed = (
  inner: MemoryDocStore,
  on: { load?: (id: string) => Promise<void>; append?: (id: string) => void },
): MemoryDocStore =>
  new Proxy(inner, {
    get(target, prop) {
      if (prop === 'load' && on.load)
        return async (id: string) => {
          const result = await target.load(docId(id))
          await on.load?.(id)
          return result
        }
      if (prop === 'append' && on.append)
        return async (id: string, update: Uint8Array, options?: unknown) => {
          const clock = await target.append(docId(id), update, options as never)
          on.append?.(id)
          return clock
        }
      const v = Reflect.get(target, prop, target) as unknown
      return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v
    },
  })

describe('workspace eviction with tabs sharing one store', () => {
  it('WS-CLIENT-5.1, STORE-5.3: an edit another tab stores after the pending check survives the eviction', async () => {
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    const shared = new MemoryDocStore()
    // Run once, in tab A, right after a load of team/y returns (the eviction's pending check read it).
    let afterLoadOfY: (() => Promise<void>) | null = null
    const storeA = observed(shared, {
      load: async (id) => {
        const hook = id === 'team/y' ? afterLoadOfY : null
        if (!hook) return
        afterLoadOfY = null
        await hook()
      },
    })
    let storedInB: (() => void) | null = null
    const storeB = observed(shared, { append: (id) => id === 'team/y' && storedInB?.() })
    let clock = 0
    const a = await openWorkspace({
      id: 'team',
      store: storeA,
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
    // Tab B has y open, offline for y (its relay path never connects).
    const lonely = net.transport('lonely')
    const b = await openWorkspace({
      id: 'team',
      store: storeB,
      relay: (room) => (room === 'team/y' ? lonely : relay.relayFor('b')(room)),
      now: () => ++clock,
    })
    await settle(net)
    const by = await b.open('y')
    expect(by.doc.getText('t').length).toBe(1_000)
    afterLoadOfY = async () => {
      const appended = new Promise<void>((resolve) => (storedInB = resolve))
      by.doc.getText('t').insert(0, 'B-OFFLINE-EDIT ')
      await appended // B's edit (and its pending count) is in the shared store
    }
    await write('z') // over the budget: A evicts y
    expect(afterLoadOfY).toBeNull() // the edit was made during the eviction
    expect(await storedText(shared, 'team/y')).toContain('B-OFFLINE-EDIT')
    expect(a.list.get('y')).toMatchObject({ local: true })
    // Tab B is killed (no destroy): a fresh tab, offline, still has B's edit, pending.
    const c = await openWorkspace({
      id: 'team',
      store: shared,
      relay: (room) => net.transport(`c-offline-${room}`),
      now: () => ++clock,
    })
    const cy = await c.open('y')
    expect(cy.doc.getText('t').toString()).toContain('B-OFFLINE-EDIT')
    expect(cy.pendingChanges).toBeGreaterThan(0)
    await Promise.all([a.destroy(), c.destroy()])
  }, 30_000)
})

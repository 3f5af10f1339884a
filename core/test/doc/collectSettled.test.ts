import { describe, expect, it } from 'vitest'
import {
  docId,
  openDocument,
  PENDING_META,
  storedPendingCount,
  type CompactOptions,
  type CompactResult,
  type DocId,
} from '../../src/index.js'
import { MemoryDocStore, MemoryNetwork } from '../../src/testing/index.js'
import { settle } from '../../src/testing/pendingCrashScenario.js'

const D = docId('d')

/** A MemoryDocStore that runs `before` at the start of each compaction (after the compaction's load). */
class HookedStore extends MemoryDocStore {
  before: () => Promise<void> = () => Promise.resolve()
  override async compact(
    id: DocId,
    snapshot: Uint8Array,
    through: number,
    options?: CompactOptions,
  ): Promise<CompactResult> {
    await this.before()
    return super.compact(id, snapshot, through, options)
  }
}

/** Writer A (its count settled by the relay, left open: as if crashed) and writer B (offline, 1 pending). */
const twoWriters = async (store: MemoryDocStore) => {
  const net = new MemoryNetwork()
  const relay = await openDocument({ docId: 'd', store: new MemoryDocStore(), persistPending: false })
  const rt = net.transport('relay')
  relay.addTransport(rt)
  rt.connect()
  const a = await openDocument({ docId: 'd', store })
  const ta = net.transport('a')
  net.link(ta, rt)
  a.addTransport(ta, { relay: true })
  ta.connect()
  a.doc.getText('t').insert(0, 'a')
  await settle(net, [a, relay])
  const b = await openDocument({ docId: 'd', store })
  b.addTransport(net.transport('b'), { relay: true })
  b.doc.getText('t').insert(0, 'b')
  await b.flushed()
  return { a, b, relay }
}

const keys = async (store: MemoryDocStore, base: string) =>
  Object.keys((await store.load(D))?.meta ?? {}).filter((k) => k === base || k.startsWith(`${base}:`))

describe('other writers’ settled counts leave with a compaction (STORE-9.8)', () => {
  it('STORE-9.8: a compaction removes settled writers’ keys (a pre-STORE-9.7 key included), keeps pending ones', async () => {
    const store = new HookedStore()
    await store.setMeta(D, PENDING_META.local, '2')
    await store.setMeta(D, PENDING_META.confirmed, '2')
    const { a, b, relay } = await twoWriters(store)
    expect(await keys(store, PENDING_META.local)).toHaveLength(3)
    const c = await openDocument({ docId: 'd', store })
    expect(c.pendingChanges).toBe(1)
    expect((await c.persistence?.compact())?.ok).toBe(true)
    const meta = (await store.load(D))?.meta ?? {}
    // Only B's count is left: it is pending.
    expect(await keys(store, PENDING_META.local)).toHaveLength(1)
    expect(await keys(store, PENDING_META.confirmed)).toHaveLength(0)
    expect(storedPendingCount(meta)).toBe(1)
    for (const h of [c, b, a, relay]) await h.destroy()
  })

  it('STORE-9.8: an append stored after the compaction’s load keeps every key: the writer’s new count stays', async () => {
    const store = new HookedStore()
    const { a, b, relay } = await twoWriters(store)
    const c = await openDocument({ docId: 'd', store })
    store.before = async () => {
      store.before = () => Promise.resolve()
      a.doc.getText('t').insert(0, 'again') // A is alive after all: its new change is stored with its count, 2
      await a.flushed()
    }
    const outcome = await c.persistence?.compact()
    const meta = (await store.load(D))?.meta ?? {}
    expect(storedPendingCount(meta)).toBe(2) // B's change and A's new one
    expect(Object.values(meta)).toContain('2')
    // The log is compacted all the same, without the collection (retried by a later compaction).
    expect(outcome?.ok).toBe(true)
    expect((await store.load(D))?.updates).toHaveLength(1)
    for (const h of [c, b, a, relay]) await h.destroy()
  })
})

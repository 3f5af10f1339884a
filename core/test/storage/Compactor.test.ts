import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { docId } from '../../src/ids.js'
import { Compactor, defaultCompactionPolicy, shouldCompact } from '../../src/index.js'
import { MemoryDocStore } from '../../src/testing/MemoryDocStore.js'

const D = docId('doc')

const fill = async (store: MemoryDocStore, n: number): Promise<Y.Doc> => {
  const doc = new Y.Doc()
  const pending: Promise<number>[] = []
  doc.on('update', (u: Uint8Array) => pending.push(store.append(D, u)))
  for (let i = 0; i < n; i++) doc.getArray<number>('a').push([i])
  await Promise.all(pending)
  return doc
}

const load = async (store: MemoryDocStore): Promise<number[]> => {
  const stored = await store.load(D)
  const doc = new Y.Doc()
  if (stored?.snapshot) Y.applyUpdateV2(doc, stored.snapshot)
  for (const u of stored?.updates ?? []) Y.applyUpdate(doc, u)
  return doc.getArray<number>('a').toArray()
}

describe('shouldCompact (STORE-8.1)', () => {
  const p = { maxUpdates: 100, maxUpdateBytes: 1000, minTailRatio: 0.1, hardMaxUpdates: 5000 }
  it('STORE-8.1: nothing to compact without a tail', () => {
    expect(shouldCompact({ updateCount: 0, updateBytes: 0, snapshotBytes: 10 }, p)).toBe(false)
  })
  it('STORE-8.1: compacts past the count or byte threshold', () => {
    expect(shouldCompact({ updateCount: 99, updateBytes: 500, snapshotBytes: 0 }, p)).toBe(false)
    expect(shouldCompact({ updateCount: 100, updateBytes: 500, snapshotBytes: 0 }, p)).toBe(true)
    expect(shouldCompact({ updateCount: 3, updateBytes: 1000, snapshotBytes: 0 }, p)).toBe(true)
  })
  it('STORE-8.1: does not rewrite a large snapshot for a small tail, unless past the hard count', () => {
    expect(shouldCompact({ updateCount: 200, updateBytes: 5000, snapshotBytes: 100_000 }, p)).toBe(false)
    expect(shouldCompact({ updateCount: 200, updateBytes: 10_000, snapshotBytes: 100_000 }, p)).toBe(true)
    expect(shouldCompact({ updateCount: 5000, updateBytes: 5000, snapshotBytes: 10_000_000 }, p)).toBe(true)
  })
  it('STORE-8.1: defaults', () => {
    expect(
      shouldCompact({ updateCount: defaultCompactionPolicy.maxUpdates, updateBytes: 0, snapshotBytes: 0 }),
    ).toBe(true)
    expect(new Compactor({ policy: { maxUpdates: 3 } }).policy.maxUpdates).toBe(3)
  })
})

describe('Compactor', () => {
  it('STORE-8.2, STORE-8.5: folds snapshot and tail into a V2 snapshot with the same content', async () => {
    const store = new MemoryDocStore()
    const doc = await fill(store, 50)
    const outcome = await new Compactor().compact(store, D)
    expect(outcome).toMatchObject({ ok: true, compactedUpdates: 50 })
    const stored = await store.load(D)
    expect(stored?.updates).toEqual([])
    expect(await load(store)).toEqual(doc.getArray('a').toArray())
    expect(await new Compactor().compact(store, D)).toEqual({ ok: false, reason: 'empty' })
  })

  it('STORE-8.3: a second request while one runs joins it; the store compacts once', async () => {
    const store = new MemoryDocStore()
    await fill(store, 20)
    const compactor = new Compactor()
    let calls = 0
    const original = store.compact.bind(store)
    store.compact = (...args) => {
      calls++
      return original(...args)
    }
    const [a, b] = [compactor.compact(store, D), compactor.compact(store, D)]
    expect(a).toBe(b)
    expect(compactor.isRunning(store, D)).toBe(true)
    await a
    expect(calls).toBe(1)
    expect(compactor.isRunning(store, D)).toBe(false)
  })

  it('STORE-8.2, STORE-8.4: updates appended during a compaction survive; a stale compaction changes nothing', async () => {
    const store = new MemoryDocStore()
    const doc = await fill(store, 20)
    const pending: Promise<number>[] = []
    doc.on('update', (u: Uint8Array) => pending.push(store.append(D, u)))
    const running = new Compactor().compact(store, D)
    doc.getArray<number>('a').push([100, 101])
    await Promise.all(pending)
    expect((await running).ok).toBe(true)
    expect(await load(store)).toEqual(doc.getArray('a').toArray())
    // Another compactor (another process) raced ahead of a slow one:
    const stored = await store.load(D)
    await new Compactor().compact(store, D)
    expect(await store.compact(D, new Uint8Array([0, 0]), (stored?.clock ?? 0) - 1)).toEqual({
      ok: false,
      reason: 'stale',
    })
    expect(await load(store)).toEqual(doc.getArray('a').toArray())
  })

  it('STORE-3.4: meta passed to a compaction is written with the snapshot', async () => {
    const store = new MemoryDocStore()
    await fill(store, 3)
    await new Compactor().compact(store, D, { meta: { epoch: 'e7' } })
    expect((await store.load(D))?.meta).toEqual({ epoch: 'e7' })
  })
})

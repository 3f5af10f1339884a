import { afterEach, beforeEach, describe, expect, it } from './vitestApi.js'
import { docId, type DocId } from '../ids.js'
import { WeftError, WeftErrorCode } from '../WeftError.js'
import type { DocStore, StoredDoc } from '../storage/DocStore.js'
import { workspaceIndexContract } from './workspaceIndexContract.js'

/** Options of {@link runDocStoreContract}. */
export interface DocStoreContractOptions {
  /**
   * Closes `store` and opens the same medium again (same file, same database name). When given, the suite also
   * checks that durable data survives a restart.
   */
  readonly reopen?: (store: DocStore) => Promise<DocStore>
  /**
   * The store keeps the workspace index ({@link @weft/core!WorkspaceIndex}): the suite also checks the `WS-STORE-*`
   * rules (docs/spec/storage.md), and fails when `isWorkspaceIndexed(store)` is false.
   */
  readonly workspaceIndex?: boolean
}

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values)
const A = docId('doc-a')
const B = docId('doc-b')

/** A deterministic pseudo-random buffer (xorshift), so failures reproduce. */
const pseudoRandom = (length: number, seed: number): Uint8Array => {
  const out = new Uint8Array(length)
  let x = seed | 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/** Byte equality without vitest's slow element-wise diff on large arrays. */
const sameBytes = (a: Uint8Array | null | undefined, b: Uint8Array): boolean =>
  !!a && a.byteLength === b.byteLength && a.every((v, i) => v === b[i])

const tail = (stored: StoredDoc | null): number[][] => (stored?.updates ?? []).map((u) => [...u])

const STALE = { ok: false, reason: 'stale' } as const

/** The WeftError code a promise rejects with (`null` if it resolves). */
const rejectionCode = (p: Promise<unknown>): Promise<string | null> =>
  p.then(
    () => null,
    (err: unknown) => (err instanceof WeftError ? err.code : `not a WeftError: ${String(err)}`),
  )

/**
 * Registers the DocStore contract suite (docs/spec/storage.md, `STORE-1` to `STORE-6`; STORE-2.5, STORE-3.7 and STORE-3.8 are the checks several writers of one store rely on during an epoch switch) for one implementation.
 * Call it at the top level of a vitest test file; `makeStore` must return a fresh, empty store each time.
 */
export const runDocStoreContract = (
  name: string,
  makeStore: () => DocStore | Promise<DocStore>,
  options: DocStoreContractOptions = {},
): void => {
  describe(`DocStore contract: ${name}`, () => {
    let store: DocStore

    beforeEach(async () => {
      store = await makeStore()
    })
    afterEach(async () => {
      await store.close()
    })

    it('STORE-1.1: load of an unknown document resolves null', async () => {
      expect(await store.load(A)).toBeNull()
    })

    it('STORE-1.2, STORE-2.1, STORE-2.2: appends load back in order with increasing clocks', async () => {
      const c1 = await store.append(A, bytes(1))
      const c2 = await store.append(A, bytes(2, 2))
      const c3 = await store.append(A, bytes(3, 3, 3))
      expect(c1).toBeGreaterThan(0)
      expect(c2).toBeGreaterThan(c1)
      expect(c3).toBeGreaterThan(c2)
      const stored = await store.load(A)
      expect(stored?.snapshot).toBeNull()
      expect(tail(stored)).toEqual([[1], [2, 2], [3, 3, 3]])
      expect(stored?.clock).toBe(c3)
      expect(stored?.byteLength).toBe(6)
      expect(stored?.meta).toEqual({})
    })

    it('STORE-1.4: bytes round-trip exactly, and the store keeps its own copy', async () => {
      const every = Uint8Array.from({ length: 256 }, (_, i) => i)
      const big = pseudoRandom(1 << 20, 42)
      const empty = new Uint8Array(0)
      const mutable = bytes(7, 7, 7)
      // A view into a larger buffer: only the viewed bytes must be stored.
      const view = new Uint8Array(bytes(9, 8, 7, 6, 5).buffer, 1, 3)
      await store.append(A, every)
      await store.append(A, big)
      await store.append(A, empty)
      const pending = store.append(A, mutable)
      mutable.fill(0)
      await pending
      await store.append(A, view)
      const snap = pseudoRandom(1000, 7)
      const snapCopy = snap.slice()
      const stored = await store.load(A)
      expect(stored).not.toBeNull()
      expect(stored?.updates.length).toBe(5)
      expect(sameBytes(stored?.updates[0], every)).toBe(true)
      expect(sameBytes(stored?.updates[1], big)).toBe(true)
      expect(stored?.updates[2]?.byteLength).toBe(0)
      expect([...(stored?.updates[3] ?? [])]).toEqual([7, 7, 7])
      expect([...(stored?.updates[4] ?? [])]).toEqual([8, 7, 6])
      const result = store.compact(B, snap, 0)
      snap.fill(0)
      expect(await result).toEqual({ ok: true })
      expect(sameBytes((await store.load(B))?.snapshot, snapCopy)).toBe(true)
    })

    it('STORE-1.3: loading writes nothing', async () => {
      expect(await store.load(B)).toBeNull()
      expect(await store.list()).toEqual([])
      await store.append(A, bytes(1))
      await store.append(A, bytes(2))
      await store.setMeta(A, 'k', 'v')
      const first = await store.load(A)
      for (let i = 0; i < 3; i++) await store.load(A)
      await store.load(B)
      expect(await store.load(A)).toEqual(first)
      expect(await store.load(B)).toBeNull()
      expect(await store.list()).toEqual([A])
      // The next clock is unchanged by loads.
      expect(await store.append(A, bytes(3))).toBe((first?.clock ?? 0) + 1)
    })

    it('STORE-2.2: concurrent appends are stored and clocked in call order', async () => {
      const n = 200
      const clocks = await Promise.all(
        Array.from({ length: n }, (_, i) => store.append(A, bytes(i & 0xff, i >> 8))),
      )
      for (let i = 1; i < n; i++) expect(clocks[i]).toBeGreaterThan(clocks[i - 1] ?? Infinity)
      const stored = await store.load(A)
      expect(tail(stored)).toEqual(Array.from({ length: n }, (_, i) => [i & 0xff, i >> 8]))
      expect(stored?.clock).toBe(clocks[n - 1])
    })

    it('STORE-2.3: documents are independent', async () => {
      await store.append(A, bytes(1))
      await store.append(B, bytes(2))
      await store.setMeta(B, 'k', 'b')
      const loadedA = await store.load(A)
      expect(await store.compact(A, bytes(9), loadedA?.clock ?? 0)).toEqual({ ok: true })
      expect(tail(await store.load(B))).toEqual([[2]])
      await store.remove(A)
      const b = await store.load(B)
      expect(tail(b)).toEqual([[2]])
      expect(b?.meta).toEqual({ k: 'b' })
      expect(await store.list()).toEqual([B])
    })

    it('STORE-3.1: compact replaces what was loaded and keeps later appends', async () => {
      await store.append(A, bytes(1))
      await store.append(A, bytes(2))
      const loaded = await store.load(A)
      const c3 = await store.append(A, bytes(3))
      expect(await store.compact(A, bytes(12), loaded?.clock ?? 0)).toEqual({ ok: true })
      const after = await store.load(A)
      expect([...(after?.snapshot ?? [])]).toEqual([12])
      expect(tail(after)).toEqual([[3]])
      expect(after?.clock).toBe(c3)
      expect(after?.byteLength).toBe(2)
    })

    it('STORE-3.1: compaction with throughClock in the middle, appends racing the compaction', async () => {
      const clocks: number[] = []
      for (let i = 1; i <= 10; i++) clocks.push(await store.append(A, bytes(i)))
      const through = clocks[5] ?? 0 // updates 1..6 go into the snapshot
      const racing = [store.append(A, bytes(11)), store.append(A, bytes(12))]
      const result = store.compact(A, bytes(100), through)
      racing.push(store.append(A, bytes(13)))
      expect(await result).toEqual({ ok: true })
      const racingClocks = await Promise.all(racing)
      const after = await store.load(A)
      expect([...(after?.snapshot ?? [])]).toEqual([100])
      expect(tail(after)).toEqual([[7], [8], [9], [10], [11], [12], [13]])
      expect(after?.clock).toBe(racingClocks[2])
      // A second compaction through the new end leaves an empty tail.
      expect(await store.compact(A, bytes(101), after?.clock ?? 0)).toEqual({ ok: true })
      const final = await store.load(A)
      expect(tail(final)).toEqual([])
      expect(final?.clock).toBe(after?.clock)
    })

    it('STORE-3.2: clocks are never reused after a compaction', async () => {
      await store.append(A, bytes(1))
      const c2 = await store.append(A, bytes(2))
      expect(await store.compact(A, bytes(5), c2)).toEqual({ ok: true })
      expect((await store.load(A))?.clock).toBe(c2)
      const c3 = await store.append(A, bytes(3))
      expect(c3).toBeGreaterThan(c2)
    })

    it('STORE-3.3: a stale compaction changes nothing', async () => {
      await store.append(A, bytes(1))
      const c2 = await store.append(A, bytes(2))
      await store.append(A, bytes(3))
      expect(await store.compact(A, bytes(50), c2)).toEqual({ ok: true })
      const before = await store.load(A)
      // Below the stored snapshot's clock: another compaction went further.
      expect(await store.compact(A, bytes(51), c2 - 1)).toEqual({ ok: false, reason: 'stale' })
      // Above the last clock: the caller never loaded that state.
      expect(await store.compact(A, bytes(52), (before?.clock ?? 0) + 1)).toEqual({
        ok: false,
        reason: 'stale',
      })
      expect(await store.compact(B, bytes(53), 1)).toEqual({ ok: false, reason: 'stale' })
      expect(await store.load(A)).toEqual(before)
      expect(await store.load(B)).toBeNull()
    })

    it('STORE-3.4: meta given to compact is written with the snapshot', async () => {
      await store.setMeta(A, 'keep', '1')
      await store.setMeta(A, 'drop', '1')
      const c = await store.append(A, bytes(1))
      expect(await store.compact(A, bytes(2), c, { meta: { epoch: 'e2', drop: null } })).toEqual({ ok: true })
      expect((await store.load(A))?.meta).toEqual({ keep: '1', epoch: 'e2' })
    })

    it('STORE-3.7: an exact compaction is stale, and changes nothing, when any update follows throughClock', async () => {
      const c1 = await store.append(A, bytes(1))
      const c2 = await store.append(A, bytes(2))
      const before = await store.load(A)
      expect(await store.compact(A, bytes(9), c1, { exact: true, meta: { epoch: 'e1' } })).toEqual(STALE)
      expect(await store.load(A)).toEqual(before)
      // The caller loaded, then another writer appended: the load's clock is no longer the last one.
      const c3 = await store.append(A, bytes(3))
      expect(await store.compact(A, bytes(9), c2, { exact: true })).toEqual(STALE)
      expect(tail(await store.load(A))).toEqual([[1], [2], [3]])
      // Through the last clock it compacts like any compaction, meta included.
      expect(await store.compact(A, bytes(9), c3, { exact: true, meta: { epoch: 'e1' } })).toEqual({
        ok: true,
      })
      const after = await store.load(A)
      expect([...(after?.snapshot ?? [])]).toEqual([9])
      expect(tail(after)).toEqual([])
      expect(after?.meta).toEqual({ epoch: 'e1' })
      // Still exact after a compaction (the snapshot's clock is the last one), and for a new document.
      expect(await store.compact(A, bytes(10), c3, { exact: true })).toEqual({ ok: true })
      expect(await store.compact(B, bytes(1), 0, { exact: true })).toEqual({ ok: true })
      // An append racing the compaction: either it came first (stale, nothing changed) or after (kept).
      const through = (await store.load(A))?.clock ?? 0
      const [result] = await Promise.all([
        store.compact(A, bytes(11), through, { exact: true }),
        store.append(A, bytes(4)),
      ])
      const raced = await store.load(A)
      expect(tail(raced)).toEqual([[4]])
      expect([...(raced?.snapshot ?? [])]).toEqual(result.ok ? [11] : [10])
    })

    it('STORE-3.8: an epoch-checked compaction is stale when the stored epoch differs', async () => {
      const c = await store.append(A, bytes(1))
      // Absent `epoch` meta is the initial epoch "0".
      expect(await store.compact(A, bytes(5), c, { epoch: 'e1' })).toEqual(STALE)
      // Checked against the stored value before `meta` is applied.
      expect(await store.compact(A, bytes(5), c, { epoch: '0', meta: { epoch: 'e1' } })).toEqual({ ok: true })
      // A writer that loaded epoch "0" at the same clock must not fold it over the new epoch's snapshot.
      expect(await store.compact(A, bytes(6), c, { epoch: '0' })).toEqual(STALE)
      const stored = await store.load(A)
      expect([...(stored?.snapshot ?? [])]).toEqual([5])
      expect(stored?.meta).toEqual({ epoch: 'e1' })
      expect(await store.compact(A, bytes(7), c, { epoch: 'e1' })).toEqual({ ok: true })
      expect(await store.compact(B, bytes(1), 0, { epoch: 'e1' })).toEqual(STALE)
      expect(await store.load(B)).toBeNull()
    })

    it('STORE-2.5: an epoch-checked append is refused in another epoch and writes nothing', async () => {
      // Absent `epoch` meta is "0"; an accepted append may create the document.
      const c1 = await store.append(A, bytes(1), { epoch: '0' })
      expect(c1).toBeGreaterThan(0)
      expect(await rejectionCode(store.append(B, bytes(1), { epoch: 'e1' }))).toBe(
        WeftErrorCode.EpochMismatch,
      )
      expect(await store.load(B)).toBeNull()
      expect(await store.list()).toEqual([A])
      // Another writer switches the document to epoch e1.
      expect(await store.compact(A, bytes(9), c1, { meta: { epoch: 'e1' } })).toEqual({ ok: true })
      const before = await store.load(A)
      expect(await rejectionCode(store.append(A, bytes(2), { epoch: '0' }))).toBe(WeftErrorCode.EpochMismatch)
      expect(await store.load(A)).toEqual(before)
      // No clock was used by the refused append; unchecked appends are never refused.
      expect(await store.append(A, bytes(3), { epoch: 'e1' })).toBe(c1 + 1)
      expect(await store.append(A, bytes(4))).toBe(c1 + 2)
      // Appends of one tick (one group commit): each is checked on its own, in call order.
      const settled = await Promise.allSettled([
        store.append(A, bytes(5), { epoch: 'e1' }),
        store.append(A, bytes(6), { epoch: '0' }),
        store.append(A, bytes(7), { epoch: 'e1' }),
        store.append(B, bytes(8), { epoch: '0' }),
      ])
      expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
      const refused: unknown = settled[1]?.status === 'rejected' ? settled[1].reason : null
      expect(refused).toBeInstanceOf(WeftError)
      expect((refused as WeftError).code).toBe(WeftErrorCode.EpochMismatch)
      expect(tail(await store.load(A))).toEqual([[3], [4], [5], [7]])
      expect(tail(await store.load(B))).toEqual([[8]])
      // The check reads the stored meta, whoever wrote it.
      await store.setMeta(A, 'epoch', 'e2')
      expect(await rejectionCode(store.append(A, bytes(9), { epoch: 'e1' }))).toBe(
        WeftErrorCode.EpochMismatch,
      )
      expect(await store.append(A, bytes(9), { epoch: 'e2' })).toBeGreaterThan(c1 + 2)
    })

    it('STORE-2.6: an append writes its meta entries with the update; a refused one writes none', async () => {
      await store.setMeta(A, 'gone', 'x')
      const c1 = await store.append(A, bytes(1), { meta: { count: '1', gone: null } })
      expect((await store.load(A))?.meta).toEqual({ count: '1' })
      // One group commit: later entries win, each with its own update; a refused append's entries are not written.
      const settled = await Promise.allSettled([
        store.append(A, bytes(2), { epoch: '0', meta: { count: '2' } }),
        store.append(A, bytes(3), { epoch: '0', meta: { count: '3', other: 'y' } }),
        store.append(A, bytes(4), { epoch: 'e9', meta: { count: '99', refused: 'z' } }),
        store.append(B, bytes(5), { meta: { count: '1' } }),
      ])
      expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled'])
      const stored = await store.load(A)
      expect(stored?.meta).toEqual({ count: '3', other: 'y' })
      expect(tail(stored)).toEqual([[1], [2], [3]])
      expect(stored?.clock).toBe(c1 + 2)
      expect((await store.load(B))?.meta).toEqual({ count: '1' })
    })

    it('STORE-4.1, STORE-4.2: metadata is set, replaced and deleted; metadata alone makes a document', async () => {
      await store.setMeta(A, 'epoch', 'e1')
      await store.setMeta(A, 'schema', '3')
      await store.setMeta(A, 'epoch', 'e2')
      const stored = await store.load(A)
      expect(stored).toEqual({
        snapshot: null,
        updates: [],
        clock: 0,
        byteLength: 0,
        meta: { epoch: 'e2', schema: '3' },
      })
      expect(await store.list()).toEqual([A])
      await store.setMeta(A, 'schema', null)
      await store.setMeta(A, 'missing', null)
      expect((await store.load(A))?.meta).toEqual({ epoch: 'e2' })
    })

    it('STORE-5.1: remove deletes snapshot, tail and meta', async () => {
      const c = await store.append(A, bytes(1))
      await store.compact(A, bytes(2), c)
      await store.append(A, bytes(3))
      await store.setMeta(A, 'k', 'v')
      await store.remove(A)
      expect(await store.load(A)).toBeNull()
      expect(await store.list()).toEqual([])
      await store.remove(A)
      await store.remove(B)
      const again = await store.append(A, bytes(4))
      expect(tail(await store.load(A))).toEqual([[4]])
      expect(again).toBeGreaterThan(0)
    })

    it('STORE-5.1: an unconditional remove resolves ok, also for an unknown document', async () => {
      await store.append(A, bytes(1))
      expect(await store.remove(A)).toEqual({ ok: true })
      expect(await store.remove(B)).toEqual({ ok: true })
    })

    it('STORE-5.3: a conditional remove removes only what the caller loaded', async () => {
      const c1 = await store.append(A, bytes(1))
      await store.setMeta(A, 'k', 'v')
      const seen = (await store.load(A))!.clock
      expect(seen).toBe(c1)
      // An append since the load (another tab or process): stale, nothing removed.
      await store.append(A, bytes(2))
      expect(await store.remove(A, { ifClock: seen })).toEqual({ ok: false, reason: 'stale' })
      expect(tail(await store.load(A))).toEqual([[1], [2]])
      expect((await store.load(A))?.meta).toEqual({ k: 'v' })
      // A clock the document never reached: stale too.
      const now = (await store.load(A))!.clock
      expect(await store.remove(A, { ifClock: now + 1 })).toEqual({ ok: false, reason: 'stale' })
      // A compaction keeps the clock (the content is the same): the removal goes ahead.
      expect(await store.compact(A, bytes(9), now)).toEqual({ ok: true })
      expect(await store.remove(A, { ifClock: now })).toEqual({ ok: true })
      expect(await store.load(A)).toBeNull()
      expect(await store.list()).toEqual([])
      // Nothing stored: clock 0.
      expect(await store.remove(B, { ifClock: 0 })).toEqual({ ok: true })
      await store.setMeta(B, 'only', 'meta')
      expect(await store.remove(B, { ifClock: 0 })).toEqual({ ok: true })
      expect(await store.load(B)).toBeNull()
    })

    it('STORE-5.3: an append issued before a conditional remove is seen by it', async () => {
      const seen = await store.append(A, bytes(1))
      const later = store.append(A, bytes(2))
      expect(await store.remove(A, { ifClock: seen })).toEqual({ ok: false, reason: 'stale' })
      expect(await later).toBeGreaterThan(seen)
      expect(tail(await store.load(A))).toEqual([[1], [2]])
    })

    it('STORE-5.2: list names every document once', async () => {
      const ids: DocId[] = [docId('x'), docId('y/with slash'), docId('z é 🧵')]
      await store.append(ids[0] as DocId, bytes(1))
      await store.append(ids[0] as DocId, bytes(2))
      const c = await store.append(ids[1] as DocId, bytes(1))
      await store.compact(ids[1] as DocId, bytes(1), c)
      await store.setMeta(ids[2] as DocId, 'k', 'v')
      expect([...(await store.list())].sort()).toEqual([...ids].sort())
    })

    it('STORE-6.1: close waits for pending appends, then every call rejects with destroyed', async () => {
      const pending = [store.append(A, bytes(1)), store.append(A, bytes(2))]
      await store.close()
      expect(await Promise.all(pending)).toHaveLength(2)
      const expectDestroyed = async (p: Promise<unknown>): Promise<void> => {
        const err: unknown = await p.then(
          () => null,
          (e: unknown) => e,
        )
        expect(err).toBeInstanceOf(WeftError)
        expect((err as WeftError).code).toBe(WeftErrorCode.Destroyed)
      }
      await expectDestroyed(store.load(A))
      await expectDestroyed(store.append(A, bytes(3)))
      await expectDestroyed(store.append(A, bytes(3), { epoch: '0' }))
      await expectDestroyed(store.compact(A, bytes(3), 1))
      await expectDestroyed(store.setMeta(A, 'k', 'v'))
      await expectDestroyed(store.remove(A))
      await expectDestroyed(store.list())
      await store.close()
    })

    if (options.reopen) {
      const reopen = options.reopen
      it('STORE-2.1, STORE-3.2: durable data survives closing and reopening the medium', async () => {
        await store.append(A, bytes(1))
        const c2 = await store.append(A, bytes(2))
        await store.compact(A, bytes(10), c2, { meta: { epoch: 'e1' } })
        const pending = store.append(A, bytes(3))
        const before = await store.load(A)
        await pending
        store = await reopen(store)
        const after = await store.load(A)
        expect([...(after?.snapshot ?? [])]).toEqual([10])
        expect(tail(after)).toEqual([[3]])
        expect(after?.meta).toEqual({ epoch: 'e1' })
        expect(after?.clock).toBeGreaterThanOrEqual(before?.clock ?? 0)
        expect(await store.append(A, bytes(4))).toBeGreaterThan(after?.clock ?? 0)
      })

      it('STORE-2.6: the meta of a burst of appends is durable with them (a count stored with the changes it counts)', async () => {
        // A client document's pending count rides on its appends like this (STORE-9.2): not awaited one by one.
        const appends = [1, 2, 3, 4, 5].map((i) => store.append(A, bytes(i), { meta: { count: String(i) } }))
        const other = store.append(B, bytes(9), { meta: { count: '1' } })
        await Promise.all([...appends, other])
        store = await reopen(store)
        const after = await store.load(A)
        expect(tail(after)).toEqual([[1], [2], [3], [4], [5]])
        expect(after?.meta).toEqual({ count: '5' })
        expect((await store.load(B))?.meta).toEqual({ count: '1' })
      })
    }

    if (options.workspaceIndex) {
      const reopen = options.reopen
      workspaceIndexContract(
        () => store,
        reopen &&
          (async () => {
            store = await reopen(store)
            return store
          }),
      )
    }
  })
}

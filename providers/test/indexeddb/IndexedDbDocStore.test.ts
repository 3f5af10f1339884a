import 'fake-indexeddb/auto'
import { describe, expect, it } from 'vitest'
import { docId, WeftError } from '@weft/core'
import { runDocStoreContract } from '@weft/core/testing'
import { IndexedDbDocStore } from '../../src/indexeddb/index.js'
import { DocPersistence } from '@weft/core'
import * as Y from 'yjs'

let n = 0
const names = new WeakMap<IndexedDbDocStore, string>()
const open = (name: string): IndexedDbDocStore => {
  const store = new IndexedDbDocStore({ name })
  names.set(store, name)
  return store
}

runDocStoreContract('IndexedDbDocStore (fake-indexeddb)', () => open(`contract-${n++}`), {
  workspaceIndex: true,
  reopen: async (store) => {
    await store.close()
    return open(names.get(store as IndexedDbDocStore) ?? '')
  },
})

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values)
const A = docId('a')

/** Records the mode of every transaction opened while `fn` runs. */
const transactionModes = async (fn: () => Promise<unknown>): Promise<string[]> => {
  const modes: string[] = []
  const original = IDBDatabase.prototype.transaction
  IDBDatabase.prototype.transaction = function (
    this: IDBDatabase,
    ...args: Parameters<IDBDatabase['transaction']>
  ) {
    modes.push(args[1] ?? 'readonly')
    return original.apply(this, args)
  }
  try {
    await fn()
  } finally {
    IDBDatabase.prototype.transaction = original
  }
  return modes
}

/** Counts the cursors opened while `fn` runs. */
const countCursors = async (fn: () => Promise<unknown>): Promise<number> => {
  let count = 0
  const proto = IDBObjectStore.prototype
  const [keyCursor, cursor] = [proto.openKeyCursor, proto.openCursor]
  proto.openKeyCursor = function (
    this: IDBObjectStore,
    ...args: Parameters<IDBObjectStore['openKeyCursor']>
  ) {
    count++
    return keyCursor.apply(this, args)
  }
  proto.openCursor = function (this: IDBObjectStore, ...args: Parameters<IDBObjectStore['openCursor']>) {
    count++
    return cursor.apply(this, args)
  }
  try {
    await fn()
  } finally {
    proto.openKeyCursor = keyCursor
    proto.openCursor = cursor
  }
  return count
}

const tail = (stored: { readonly updates: readonly Uint8Array[] } | null): number[][] =>
  (stored?.updates ?? []).map((u) => [...u])

const rawDb = (name: string): Promise<IDBDatabase> =>
  new Promise((resolve, reject) => {
    const req = indexedDB.open(name)
    req.onsuccess = () => resolve(req.result)
    req.onerror = () => reject(req.error ?? new Error('open'))
  })

describe('IndexedDbDocStore', () => {
  it('STORE-1.3: load and list open only readonly transactions', async () => {
    const store = open(`idb-${n++}`)
    await store.append(A, bytes(1))
    await store.setMeta(A, 'k', 'v')
    const modes = await transactionModes(async () => {
      await store.load(A)
      await store.load(docId('unknown'))
      await store.list()
    })
    expect(modes).toEqual(['readonly', 'readonly', 'readonly'])
    await store.close()
  })

  it('STORE-2.4: appends of one tick share one readwrite transaction', async () => {
    const store = open(`idb-${n++}`)
    await store.load(A) // the database is open
    let clocks: number[] = []
    const modes = await transactionModes(async () => {
      clocks = await Promise.all(
        Array.from({ length: 300 }, (_, i) => store.append(i % 2 ? A : docId('b'), bytes(i & 0xff))),
      )
    })
    expect(modes).toEqual(['readwrite'])
    expect(clocks.slice(0, 4)).toEqual([1, 1, 2, 2])
    expect((await store.load(A))?.updates.length).toBe(150)
    await store.close()
  })

  it('STORE-2.2: two connections to one database (two tabs) hand out distinct clocks', async () => {
    const name = `idb-${n++}`
    const one = open(name)
    const two = open(name)
    const clocks = await Promise.all([
      one.append(A, bytes(1)),
      two.append(A, bytes(2)),
      one.append(A, bytes(3)),
    ])
    expect(new Set(clocks).size).toBe(3)
    expect((await two.load(A))?.updates.length).toBe(3)
    await one.close()
    await two.close()
  })

  it('STORE-2.5, STORE-3.7: two tabs: an epoch switch in one is checked against the appends of the other', async () => {
    const name = `tabs-epoch-${n++}`
    const [one, two] = [open(name), open(name)]
    await one.append(A, bytes(1), { epoch: '0' })
    const loaded = await one.load(A)
    await two.append(A, bytes(2), { epoch: '0' })
    const switchTo = { exact: true, epoch: '0', meta: { epoch: 'e1' } }
    expect(await one.compact(A, bytes(9), loaded?.clock ?? 0, switchTo)).toEqual({
      ok: false,
      reason: 'stale',
    })
    // The other tab's append and the switch in the same tick: whichever transaction runs first, the old-epoch
    // update is either before the switch (which is then stale) or refused after it; never under the new epoch.
    const reloaded = await one.load(A)
    const [result, appended] = await Promise.all([
      one.compact(A, bytes(9), reloaded?.clock ?? 0, switchTo),
      two.append(A, bytes(3), { epoch: '0' }).then(
        () => 'stored',
        (err: unknown) => (err instanceof WeftError ? err.code : 'other'),
      ),
    ])
    const after = await two.load(A)
    if (result.ok) {
      expect(appended).toBe('epoch-mismatch')
      expect(after?.updates).toEqual([])
      expect(after?.meta).toEqual({ epoch: 'e1' })
    } else {
      expect(appended).toBe('stored')
      expect(after?.updates.map((u) => u[0])).toEqual([1, 2, 3])
      expect(after?.meta).toEqual({})
    }
    await one.close()
    await two.close()
  })

  it('STORE-2.4: an append reads no key range, also after a log compaction deleted rows', async () => {
    const store = open(`idb-${n++}`)
    for (let i = 0; i < 20; i++) await store.append(A, bytes(i))
    expect(await store.compact(A, bytes(99), 20)).toEqual({ ok: true })
    const cursors = await countCursors(async () => {
      for (let i = 0; i < 20; i++) expect(await store.append(A, bytes(i))).toBe(21 + i)
      expect(await store.compact(A, bytes(98), 40)).toEqual({ ok: true })
      expect(await store.append(A, bytes(1))).toBe(41)
    })
    expect(cursors).toBe(0)
    await store.close()
  })

  it('STORE-2.4: appends issued while an append transaction is in flight share the next one', async () => {
    const store = open(`idb-${n++}`)
    await store.load(A)
    const tick = (): Promise<void> => new Promise((resolve) => queueMicrotask(resolve))
    let clocks: number[] = []
    const modes = await transactionModes(async () => {
      const appends = [store.append(A, bytes(0))]
      await tick() // the first append's transaction is created
      for (let i = 1; i <= 10; i++) {
        appends.push(store.append(A, bytes(i)))
        await tick()
      }
      clocks = await Promise.all(appends)
    })
    expect(modes).toEqual(['readwrite', 'readwrite'])
    expect(clocks).toEqual(Array.from({ length: 11 }, (_, i) => i + 1))
    expect(tail(await store.load(A))).toEqual(Array.from({ length: 11 }, (_, i) => [i]))
    await store.close()
  })

  it('STORE-2.2, STORE-3.2: two tabs appending and removing in turn: no clock reused, no row overwritten', async () => {
    const name = `idb-${n++}`
    const [one, two] = [open(name), open(name)]
    await one.load(A)
    await two.load(A)
    const clocks: number[] = []
    for (let i = 0; i < 6; i++) clocks.push(await (i % 3 === 0 ? one : two).append(A, bytes(i)))
    expect(clocks).toEqual([1, 2, 3, 4, 5, 6])
    expect(tail(await one.load(A))).toEqual([[0], [1], [2], [3], [4], [5]])
    // A compaction in one tab, a burst in the other (its expected clock is still right), then a removal.
    expect(await two.compact(A, bytes(50), 6)).toEqual({ ok: true })
    expect(await Promise.all([one.append(A, bytes(7)), one.append(A, bytes(8))])).toEqual([7, 8])
    expect(await two.append(A, bytes(9))).toBe(9)
    await two.remove(A)
    expect(await one.append(A, bytes(10))).toBe(1)
    expect(await two.append(A, bytes(11))).toBe(2)
    expect(tail(await one.load(A))).toEqual([[10], [11]])
    await one.close()
    await two.close()
  })

  it('STORE-6.4: a database another tab opens at a higher version fails every later write, saying why', async () => {
    const name = `idb-upgraded-${n++}`
    const store = open(name)
    expect(await store.append(A, bytes(1))).toBe(1)
    // A newer app version opens the database at a higher version: this connection is closed for it.
    const newer = await new Promise<IDBDatabase>((resolve, reject) => {
      const req = indexedDB.open(name, 99)
      req.onsuccess = () => resolve(req.result)
      req.onerror = () => reject(req.error ?? new Error('open'))
    })
    const failed = await store.append(A, bytes(2)).then(
      () => null,
      (err: unknown) => err,
    )
    expect(failed).toBeInstanceOf(WeftError)
    expect((failed as WeftError).code).toBe('store-failed')
    expect((failed as WeftError).message).toMatch(/newer version.*reload/)
    newer.close()
    await store.close()
  })

  it('STORE-3.2: a version-1 database (no clock rows) is upgraded and its clocks continue', async () => {
    const name = `idb-v1-${n++}`
    const v1 = await new Promise<IDBDatabase>((resolve, reject) => {
      const req = indexedDB.open(name, 1)
      req.onupgradeneeded = () => {
        for (const s of ['updates', 'snapshots', 'meta']) req.result.createObjectStore(s)
      }
      req.onsuccess = () => resolve(req.result)
      req.onerror = () => reject(req.error ?? new Error('open'))
    })
    await new Promise<void>((resolve, reject) => {
      const tx = v1.transaction(['updates', 'snapshots'], 'readwrite')
      tx.objectStore('snapshots').put({ clock: 4, data: bytes(40) }, A)
      tx.objectStore('updates').put(bytes(5), [A, 5])
      tx.objectStore('updates').put(bytes(6), [A, 6])
      tx.oncomplete = () => resolve()
      tx.onerror = () => reject(tx.error ?? new Error('put'))
    })
    v1.close()
    const store = open(name)
    expect(await store.append(A, bytes(7))).toBe(7)
    expect((await store.load(A))?.clock).toBe(7)
    expect(await store.append(A, bytes(8))).toBe(8)
    expect(tail(await store.load(A))).toEqual([[5], [6], [7], [8]])
    await store.close()
  })

  it('STORE-6.2: a row that is not bytes rejects load with store-corrupted', async () => {
    const name = `idb-${n++}`
    const store = open(name)
    await store.append(A, bytes(1))
    const db = await rawDb(name)
    await new Promise<void>((resolve, reject) => {
      const tx = db.transaction(['updates'], 'readwrite')
      tx.objectStore('updates').put('garbage', [A, 2])
      tx.oncomplete = () => resolve()
      tx.onerror = () => reject(tx.error ?? new Error('put'))
    })
    db.close()
    const err: unknown = await store.load(A).then(
      () => null,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(WeftError)
    expect((err as WeftError).code).toBe('store-corrupted')
    await store.close()
  })
})

describe('IndexedDbDocStore with DocPersistence', () => {
  it('STORE-7.2: opening a stored document without editing it opens only readonly transactions', async () => {
    const store = open(`idb-${n++}`)
    const first = new Y.Doc()
    const p1 = await DocPersistence.open({ doc: first, store, docId: A })
    for (let i = 0; i < 30; i++) first.getArray<number>('a').push([i])
    await p1.flushed()
    await p1.destroy()
    const doc = new Y.Doc()
    const modes = await transactionModes(async () => {
      const p = await DocPersistence.open({ doc, store, docId: A })
      await p.flushed()
      await p.destroy()
    })
    expect(modes).toEqual(['readonly'])
    expect(doc.getArray('a').length).toBe(30)
    await store.close()
  })
})

describe('IndexedDbDocStore workspace index', () => {
  /** A database as schema version 2 (before the workspace index) left it: rows written directly. */
  const writeVersion2 = async (name: string): Promise<void> => {
    const req = indexedDB.open(name, 2)
    req.onupgradeneeded = () => {
      for (const store of ['updates', 'snapshots', 'meta', 'clocks']) req.result.createObjectStore(store)
    }
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      req.onsuccess = () => resolve(req.result)
      req.onerror = () => reject(req.error ?? new Error('open failed'))
    })
    const tx = db.transaction(['updates', 'snapshots', 'meta', 'clocks'], 'readwrite')
    tx.objectStore('updates').put(bytes(1), ['acme/b', 1])
    tx.objectStore('updates').put(bytes(2, 2), ['acme/b', 2])
    tx.objectStore('clocks').put(2, 'acme/b')
    tx.objectStore('snapshots').put({ clock: 3, data: bytes(4, 4, 4) }, 'acme/a')
    tx.objectStore('clocks').put(3, 'acme/a')
    tx.objectStore('meta').put('v', ['acme/meta-only', 'k'])
    tx.objectStore('updates').put(bytes(5), ['beta/x/y', 1])
    tx.objectStore('updates').put(bytes(6), ['plain', 1])
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve()
      tx.onerror = () => reject(tx.error ?? new Error('write failed'))
    })
    db.close()
  }

  it('WS-STORE-2.4: two tabs append to one workspace at once: one gap-free sequence', async () => {
    const name = `ws-tabs-${n++}`
    const [one, two] = [open(name), open(name)]
    const burst = async (id: (i: number) => string): Promise<void> => {
      const writes: Promise<number>[] = []
      for (let i = 0; i < 40; i++) {
        writes.push((i % 2 ? one : two).append(docId(id(i)), bytes(i)))
        if (i % 6 === 5) await Promise.all(writes)
      }
      await Promise.all(writes)
    }
    // Forty documents, each appended to once: the seqs are exactly 1..40.
    await burst((i) => `acme/d${i}`)
    const first = (await two.changesSince('acme', 0, 1000)).changes
    expect(first.map((c) => c.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
    // Documents both tabs write: expected clocks go stale and batches are retried; the sequence stays gap-free.
    await burst((i) => `acme/s${i % 7}`)
    const seq = await one.workspaceSeq('acme')
    const shared = (await two.changesSince('acme', 40, 1000)).changes
    expect(shared.map((c) => c.doc).sort()).toEqual(Array.from({ length: 7 }, (_, i) => `s${i}`))
    for (let i = 1; i < shared.length; i++) expect(shared[i]!.seq).toBeGreaterThan(shared[i - 1]!.seq)
    expect(shared.at(-1)?.seq).toBe(seq)
    expect(seq - 40).toBeGreaterThanOrEqual(7)
    expect(seq - 40).toBeLessThanOrEqual(40)
    await Promise.all([one.close(), two.close()])
  })

  it('WS-STORE-5.1: a database of schema version 2 is indexed on upgrade', async () => {
    const name = `ws-v2-${n++}`
    await writeVersion2(name)
    const store = open(name)
    expect(await store.workspaces()).toEqual([
      { id: 'acme', documents: 2, seq: 2, bytes: 6 },
      { id: 'beta', documents: 1, seq: 1, bytes: 1 },
    ])
    expect((await store.changesSince('acme', 0, 10)).changes).toEqual([
      { doc: 'a', seq: 1 },
      { doc: 'b', seq: 2 },
    ])
    expect((await store.load(docId('acme/b')))?.updates.map((u) => [...u])).toEqual([[1], [2, 2]])
    expect(await store.append(docId('acme/b'), bytes(7))).toBe(3)
    await store.close()
    const again = open(name)
    expect(await again.workspaceSeq('acme')).toBe(3)
    await again.close()
  })
})

import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { docId } from '../../src/ids.js'
import { WeftError } from '../../src/WeftError.js'
import { Compactor, DocPersistence, type DocStore } from '../../src/index.js'
import { MemoryDocStore } from '../../src/testing/MemoryDocStore.js'

const D = docId('doc')

/** Writes `n` edits through a persistence and returns the final text. */
const edit = (doc: Y.Doc, n: number, from = 0): void => {
  for (let i = from; i < from + n; i++) doc.getText('t').insert(doc.getText('t').length, `${i % 10}`)
}

const reopen = async (store: DocStore, compactor: Compactor | null = null): Promise<Y.Doc> => {
  const doc = new Y.Doc()
  const p = await DocPersistence.open({ doc, store, docId: D, compactor })
  await p.destroy()
  return doc
}

/** A store whose appends fail while `failing` is true. */
class FlakyStore extends MemoryDocStore {
  failing = false
  override append(id: typeof D, update: Uint8Array): Promise<number> {
    if (this.failing) return Promise.reject(new Error('disk full'))
    return super.append(id, update)
  }
}

/** A store whose appends resolve only when `release()` is called. */
class GatedStore extends MemoryDocStore {
  #gate: Promise<void> = Promise.resolve()
  #open: () => void = () => undefined
  hold(): void {
    this.#gate = new Promise((resolve) => (this.#open = resolve))
  }
  release(): void {
    this.#open()
  }
  override async append(id: typeof D, update: Uint8Array): Promise<number> {
    const clock = await super.append(id, update)
    await this.#gate
    return clock
  }
}

describe('DocPersistence', () => {
  it('STORE-7.1: open applies snapshot and tail in one transaction whose origin is the persistence', async () => {
    const store = new MemoryDocStore()
    const source = new Y.Doc()
    source.getMap('m').set('a', 1)
    const c = await store.append(D, Y.encodeStateAsUpdate(source))
    await store.compact(D, Y.encodeStateAsUpdateV2(source), c)
    const tail: Uint8Array[] = []
    source.on('update', (u: Uint8Array) => tail.push(u))
    source.getMap('m').set('b', 2)
    source.getText('t').insert(0, 'hello')
    for (const u of tail) await store.append(D, u)

    const doc = new Y.Doc()
    const origins: unknown[] = []
    doc.on('afterTransaction', (tr: Y.Transaction) => origins.push(tr.origin))
    const p = await DocPersistence.open({ doc, store, docId: D, compactor: null })
    expect(origins).toEqual([p])
    expect(doc.getMap('m').toJSON()).toEqual({ a: 1, b: 2 })
    expect(doc.getText('t').toString()).toBe('hello')
    await p.destroy()
  })

  it('STORE-7.2: opening and closing without editing writes nothing', async () => {
    const store = new MemoryDocStore()
    const first = new Y.Doc()
    const p1 = await DocPersistence.open({ doc: first, store, docId: D })
    edit(first, 20)
    await p1.destroy()
    const writes = store.writeCount
    for (let i = 0; i < 3; i++) {
      const doc = new Y.Doc()
      const p = await DocPersistence.open({ doc, store, docId: D })
      await p.flushed()
      await p.destroy()
      expect(doc.getText('t').length).toBe(20)
    }
    expect(store.writeCount).toBe(writes)
  })

  it('STORE-7.3: every later update is appended in order, whatever its origin', async () => {
    const store = new MemoryDocStore()
    const doc = new Y.Doc()
    const p = await DocPersistence.open({ doc, store, docId: D, compactor: null })
    edit(doc, 5)
    const remote = new Y.Doc()
    remote.getMap('m').set('remote', true)
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(remote), 'some-transport')
    await p.flushed()
    expect((await store.load(D))?.updates.length).toBe(6)
    const copy = await reopen(store)
    expect(copy.getText('t').toString()).toBe('01234')
    expect(copy.getMap('m').get('remote')).toBe(true)
    await p.destroy()
  })

  it('STORE-7.3: edits made while the load is in flight, and content present before open, are stored', async () => {
    const store = new MemoryDocStore()
    const doc = new Y.Doc()
    doc.getMap('m').set('before', 1)
    const opening = DocPersistence.open({ doc, store, docId: D, compactor: null })
    doc.getMap('m').set('during', 2)
    const p = await opening
    await p.flushed()
    expect((await reopen(store)).getMap('m').toJSON()).toEqual({ before: 1, during: 2 })
    await p.destroy()
  })

  it('STORE-7.4: flushed resolves only once every earlier update is durable', async () => {
    const store = new GatedStore()
    const doc = new Y.Doc()
    const p = await DocPersistence.open({ doc, store, docId: D, compactor: null })
    store.hold()
    edit(doc, 3)
    let done = false
    const flushed = p.flushed().then(() => (done = true))
    await Promise.resolve()
    await new Promise((resolve) => setImmediate(resolve))
    expect(done).toBe(false)
    store.release()
    await flushed
    expect(done).toBe(true)
    await p.destroy()
  })

  it('STORE-7.4, STORE-7.5: a failed append is an error event; flushed repairs it with the whole state', async () => {
    const store = new FlakyStore()
    const doc = new Y.Doc()
    const p = await DocPersistence.open({ doc, store, docId: D, compactor: null })
    const errors: WeftError[] = []
    p.on('error', ({ error }) => errors.push(error))
    edit(doc, 2)
    store.failing = true
    edit(doc, 2, 2)
    const failed = await p.flushed().then(
      () => null,
      (e: unknown) => e,
    )
    expect(failed).toBeInstanceOf(WeftError)
    expect(errors.map((e) => e.code)).toEqual(['store-failed', 'store-failed'])
    store.failing = false
    await p.flushed()
    expect((await reopen(store)).getText('t').toString()).toBe('0123')
    await p.destroy()
  })

  it('STORE-7.6: destroy waits for pending appends and stops persisting', async () => {
    const store = new GatedStore()
    const doc = new Y.Doc()
    const p = await DocPersistence.open({ doc, store, docId: D, compactor: null })
    store.hold()
    edit(doc, 2)
    const destroyed = p.destroy()
    edit(doc, 1, 2)
    store.release()
    await destroyed
    expect((await store.load(D))?.updates.length).toBe(2)
    expect((await reopen(store)).getText('t').toString()).toBe('01')
  })

  it('STORE-7.7: undecodable stored data makes open reject with store-corrupted', async () => {
    const store = new MemoryDocStore()
    const doc = new Y.Doc()
    const p = await DocPersistence.open({ doc, store, docId: D })
    edit(doc, 2)
    await p.destroy()
    await store.append(D, Uint8Array.from([1, 2, 3]))
    const err: unknown = await DocPersistence.open({ doc: new Y.Doc(), store, docId: D }).then(
      () => null,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(WeftError)
    expect((err as WeftError).code).toBe('store-corrupted')
  })

  it('STORE-8.2, STORE-8.5: the policy compacts the log during editing; content is unchanged', async () => {
    const store = new MemoryDocStore()
    const compactor = new Compactor({ policy: { maxUpdates: 10, minTailRatio: 0 } })
    const doc = new Y.Doc()
    const p = await DocPersistence.open({ doc, store, docId: D, compactor })
    let compactions = 0
    p.on('compacted', ({ outcome }) => {
      if (outcome.ok) compactions++
    })
    for (let i = 0; i < 95; i++) {
      edit(doc, 1, i)
      await p.flushed()
    }
    await p.destroy()
    const stored = await store.load(D)
    expect(compactions).toBeGreaterThanOrEqual(8)
    expect(stored?.snapshot).not.toBeNull()
    expect(stored?.updates.length).toBeLessThan(10)
    expect((await reopen(store)).getText('t').toString()).toBe(doc.getText('t').toString())
  })

  it('STORE-8.2, STORE-8.5: exclusive mode compacts from the live doc; content is unchanged', async () => {
    const store = new MemoryDocStore()
    const compactor = new Compactor({ policy: { maxUpdates: 10, minTailRatio: 0 } })
    const seed = new Y.Doc()
    const p0 = await DocPersistence.open({ doc: seed, store, docId: D, compactor: null })
    edit(seed, 5)
    await p0.destroy()
    const doc = new Y.Doc()
    const p = await DocPersistence.open({ doc, store, docId: D, compactor, exclusive: true })
    const outcomes: boolean[] = []
    p.on('compacted', ({ outcome }) => outcomes.push(outcome.ok))
    for (let i = 5; i < 60; i++) {
      edit(doc, 1, i)
      if (i % 3 === 0) await p.flushed()
    }
    await p.flushed()
    await p.destroy()
    expect(outcomes.filter(Boolean).length).toBeGreaterThanOrEqual(4)
    expect((await store.load(D))?.updates.length).toBeLessThan(10)
    expect((await reopen(store)).getText('t').toString()).toBe(doc.getText('t').toString())
  })

  it('STORE-7.1: a large tail (20,000 updates) opens correctly', async () => {
    const store = new MemoryDocStore()
    const source = new Y.Doc()
    const map = source.getMap<number>('m')
    source.on('update', (u: Uint8Array) => void store.append(D, u))
    for (let i = 0; i < 20_000; i++) map.set(`k${i % 100}`, i)
    const doc = await reopen(store)
    expect(doc.getMap('m').toJSON()).toEqual(map.toJSON())
  })
})

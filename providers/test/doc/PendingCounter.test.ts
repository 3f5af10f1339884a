import 'fake-indexeddb/auto'
import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { docId, openDocument, type AppendOptions, type DocId, type DocStore } from '@weft/core'
import { MemoryDocStore, MemoryNetwork, writerValue } from '@weft/core/testing'
import { openDoc, PENDING_META } from '../../src/index.js'
import { IndexedDbDocStore } from '../../src/indexeddb/index.js'

const D = docId('d')
let n = 0

/** A MemoryDocStore that records, in commit order, every write and the local count stored by it. */
class RecordingStore extends MemoryDocStore {
  readonly log: Array<{ readonly op: 'append' | 'setMeta'; readonly local: string | null | undefined }> = []
  override async append(id: DocId, update: Uint8Array, options?: AppendOptions): Promise<number> {
    const clock = await super.append(id, update, options)
    this.log.push({ op: 'append', local: writerValue(options?.meta, PENDING_META.local) })
    return clock
  }
  override async setMeta(id: DocId, key: string, value: string | null): Promise<void> {
    await super.setMeta(id, key, value)
    if (key.startsWith(PENDING_META.local)) this.log.push({ op: 'setMeta', local: value })
  }
}

/** Records the mode of every IndexedDB transaction opened while `fn` runs. */
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

describe('PendingCounter', () => {
  it('PROV-5.7 each local change is stored with a count that includes it, whichever listener the app added first', async () => {
    for (const appFirst of [true, false]) {
      const store = new RecordingStore()
      const doc = new Y.Doc()
      // An app listener that edits in reaction to an edit, added before or after the handle's own.
      const react = (_u: Uint8Array, origin: unknown) => {
        if (origin === 'user') doc.getMap('m').set('seen', doc.getArray('a').length)
      }
      if (appFirst) doc.on('update', react)
      const handle = await openDocument({ docId: 'd', doc, store })
      if (!appFirst) doc.on('update', react)
      for (let i = 0; i < 5; i++) doc.transact(() => doc.getArray<number>('a').push([i]), 'user')
      await handle.flushed()
      // Every append carries the count of local changes issued so far: a crash after any prefix of the log leaves
      // a count at least the number of stored changes; and no separate write can overtake an append.
      expect(store.log).toEqual(
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) => ({ op: 'append', local: String(i) })),
      )
      expect(handle.pendingChanges).toBe(10)
      await handle.destroy()
    }
  })

  it('PROV-5.7 a burst of local changes and their count are one IndexedDB transaction', async () => {
    const store = new IndexedDbDocStore({ name: `pending-${n++}` })
    const net = new MemoryNetwork()
    const d = await openDoc({ docId: 'd', store, relay: net.transport('c'), connect: false })
    const modes = await transactionModes(async () => {
      const text = d.doc.getText('t')
      for (let i = 0; i < 400; i++) text.insert(i, 'x')
      await d.persistence?.flushed()
    })
    expect(modes).toEqual(['readwrite'])
    expect(d.pendingChanges).toBe(400)
    await d.destroy()
    const stored = await store.load(D)
    expect(writerValue(stored?.meta, PENDING_META.local)).toBe('400')
    expect(stored?.updates.length).toBe(400)
    // After a reload the count is still there.
    const again = await openDoc({ docId: 'd', store, relay: net.transport('c2'), connect: false })
    expect(again.pendingChanges).toBe(400)
    await again.destroy()
    await store.close()
  })

  it('PROV-5.8 with nothing that can acknowledge (no relay, no transport) the count is not written', async () => {
    const store = new RecordingStore()
    const d = await openDoc({ docId: 'd', store })
    d.doc.getText('t').insert(0, 'abc')
    d.doc.getText('t').insert(3, 'def')
    await d.persistence?.flushed()
    expect(store.log).toEqual([
      { op: 'append', local: undefined },
      { op: 'append', local: undefined },
    ])
    expect((await store.load(D))?.meta).toEqual({})
    await d.destroy()
  })

  it('PROV-5.3 a repair append after a failed one carries the count', async () => {
    const failing = new RecordingStore()
    let fail = true
    const store: DocStore = {
      load: (id) => failing.load(id),
      append: (id, update, options) =>
        fail ? Promise.reject(new Error('disk full')) : failing.append(id, update, options),
      compact: (id, snapshot, through, options) => failing.compact(id, snapshot, through, options),
      setMeta: (id, key, value) => failing.setMeta(id, key, value),
      remove: (id) => failing.remove(id),
      list: () => failing.list(),
      close: () => failing.close(),
    }
    const net = new MemoryNetwork()
    const d = await openDoc({ docId: 'd', store, relay: net.transport('c'), connect: false })
    d.on('error', () => undefined)
    d.doc.getText('t').insert(0, 'abc')
    await expect(d.persistence?.flushed()).rejects.toThrow()
    fail = false
    await d.persistence?.flushed()
    expect(failing.log).toEqual([{ op: 'append', local: '1' }])
    await d.destroy()
  })
})

import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { docId } from '../../src/ids.js'
import { WeftError } from '../../src/WeftError.js'
import { Compactor, inspectDoc } from '../../src/index.js'
import { MemoryDocStore } from '../../src/testing/MemoryDocStore.js'

const D = docId('doc')

describe('inspectDoc', () => {
  it('reports live size, tombstones, stored updates, clients and epoch', async () => {
    const store = new MemoryDocStore()
    const pending: Promise<number>[] = []
    const a = new Y.Doc()
    a.clientID = 7
    a.on('update', (u: Uint8Array) => pending.push(store.append(D, u)))
    const map = a.getMap<number>('m')
    for (let i = 0; i < 100; i++) map.set('x', i) // 99 overwritten values
    a.getText('t').insert(0, 'héllo')
    const b = new Y.Doc()
    b.clientID = 3
    Y.applyUpdate(b, Y.encodeStateAsUpdate(a))
    b.on('update', (u: Uint8Array) => pending.push(store.append(D, u)))
    b.getText('t').delete(0, 1)
    b.getText('t').insert(4, '!')
    await Promise.all(pending)
    await store.setMeta(D, 'epoch', 'e1')

    const report = inspectDoc((await store.load(D))!)
    expect(report.storedUpdates).toBe(103)
    expect(report.snapshotBytes).toBe(0)
    expect(report.clientIds).toEqual([3, 7])
    expect(report.deletedItems).toBe(99 + 1)
    expect(report.liveItems).toBe(1 + 4 + 1)
    expect(report.liveContentBytes).toBe(2 /* 99 */ + 5 /* éllo */ + 1 /* ! */)
    expect(report.epoch).toBe('e1')

    await new Compactor().compact(store, D)
    const after = inspectDoc((await store.load(D))!)
    expect(after.storedUpdates).toBe(0)
    expect(after.snapshotBytes).toBe(after.storedBytes)
    expect(after.deletedItems).toBe(100)
    expect(after.encodedBytes).toBeGreaterThan(0)
  })

  it('CLI-4.7: counts every value Yjs stores: BigInt as its digits, binary as its length, undefined as nothing', async () => {
    const store = new MemoryDocStore()
    const doc = new Y.Doc()
    const pending: Promise<number>[] = []
    doc.on('update', (u: Uint8Array) => pending.push(store.append(D, u)))
    const m = doc.getMap('m')
    m.set('big', 12345678901234567890n) // 20
    m.set('nothing', undefined) // 0
    m.set('nested', { a: [-2n, new Uint8Array(4), undefined] }) // {"a":[-2,,null]}: 16, and 4 bytes
    m.set('sub', new Y.Doc()) // a subdocument: 0
    m.set('bytes', new Uint8Array(7)) // ContentBinary: 7
    await Promise.all(pending)
    const report = inspectDoc((await store.load(D))!)
    expect(report.liveContentBytes).toBe(20 + 0 + 16 + 4 + 0 + 7)
  })

  it('STORE-6.2: undecodable data throws store-corrupted', () => {
    const stored = {
      snapshot: null,
      updates: [Uint8Array.from([1, 2, 3])],
      clock: 1,
      byteLength: 3,
      meta: {},
    }
    expect(() => inspectDoc(stored)).toThrow(WeftError)
  })
})

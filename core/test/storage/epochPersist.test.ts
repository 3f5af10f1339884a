import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { docId } from '../../src/ids.js'
import { applyStoredDoc } from '../../src/index.js'
import { persistEpoch, readEpochRecord, startEpoch } from '../../src/storage/epochs.js'
import { MemoryDocStore } from '../../src/testing/MemoryDocStore.js'

const D = docId('doc')

describe('persistEpoch (COMPACT-3.4)', () => {
  it('COMPACT-3.4: switches snapshot and epoch meta in one step; the record reads back', async () => {
    const store = new MemoryDocStore()
    const old = new Y.Doc()
    const pending: Promise<number>[] = []
    old.on('update', (u: Uint8Array) => pending.push(store.append(D, u)))
    for (let i = 0; i < 100; i++) old.getMap('m').set('k', i)
    old.getText('t').insert(0, 'kept')
    await Promise.all(pending)
    const loaded = await store.load(D)
    expect(readEpochRecord(loaded?.meta ?? {})).toBeNull() // initial epoch

    const { record, doc } = startEpoch(old)
    expect(await persistEpoch(store, D, record, doc, loaded?.clock ?? 0)).toEqual({ ok: true })
    const after = await store.load(D)
    expect(after?.updates).toEqual([])
    expect(after?.meta.epoch).toBe(record.id)
    expect(readEpochRecord(after?.meta ?? {})).toEqual({ ok: true, record })
    const reopened = new Y.Doc()
    if (after) applyStoredDoc(reopened, after, null)
    expect(reopened.getMap('m').toJSON()).toEqual({ k: 99 })
    expect(reopened.getText('t').toString()).toBe('kept')
    expect(Y.encodeStateAsUpdateV2(reopened).byteLength).toBeLessThan(Y.encodeStateAsUpdateV2(old).byteLength)
  })

  it('COMPACT-3.4: a stale clock changes nothing (the old epoch keeps every edit)', async () => {
    const store = new MemoryDocStore()
    const old = new Y.Doc()
    await store.append(D, Y.encodeStateAsUpdate(old))
    old.getText('t').insert(0, 'x')
    await store.append(D, Y.encodeStateAsUpdate(old))
    const { record, doc } = startEpoch(old)
    expect(await persistEpoch(store, D, record, doc, 99)).toEqual({ ok: false, reason: 'stale' })
    const loaded = await store.load(D)
    expect(loaded?.updates).toHaveLength(2)
    expect(loaded?.meta).toEqual({})
  })

  it('COMPACT-3.4: a record entry that does not match the epoch entry, or does not decode, is refused', async () => {
    const { record, doc } = startEpoch(new Y.Doc())
    const store = new MemoryDocStore()
    await store.append(D, Y.encodeStateAsUpdate(new Y.Doc()))
    await persistEpoch(store, D, record, doc, 1)
    const meta = (await store.load(D))?.meta ?? {}
    expect(readEpochRecord({ ...meta, epoch: '0' })).toEqual({ ok: false, reason: 'malformed' })
    expect(readEpochRecord({ ...meta, 'epoch-record': 'AAAA' })).toMatchObject({ ok: false })
  })
})

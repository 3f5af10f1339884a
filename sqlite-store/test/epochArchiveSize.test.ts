import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { DocPersistence, applyStoredDoc, docId } from '@weft/core'
import {
  EPOCH_CHILD_ID_META_KEY,
  EPOCH_CHILD_META_KEY,
  EPOCH_RECORD_META_KEY,
  encodeEpochRecord,
  encodeStoredEpochRecord,
  epochArchiveId,
  readEpochArchive,
  startEpoch,
  writeEpochArchive,
} from '@weft/core/epochs'
import { draggedWhiteboard, freshWhiteboardCopy, openEpochPeer } from '@weft/core/testing'
import { toBase64 } from 'lib0/buffer'
import { SqliteDocStore, sqliteFileBytes } from '../src/index.js'

// COMPACT-6.2b: an epoch archive is stored as one V2 snapshot, not as the old epoch's V1 state appended as is.

const D = docId('board')
const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})
const tempPath = (name: string): string => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-archive-'))
  dirs.push(dir)
  return join(dir, name)
}

const whiteboard = draggedWhiteboard
const freshCopy = freshWhiteboardCopy

describe('epoch archives on disk (COMPACT-6.2b)', () => {
  it('COMPACT-6.2b, COMPACT-6.2c: after an epoch reset of a whiteboard the archive is a V2 snapshot no larger than the fresh document, the record stored once, the store within 2x of a fresh one', async () => {
    const board = whiteboard(300, 60)
    // A fresh document with the same content, stored the way a peer stores a new document.
    const freshPath = tempPath('fresh.db')
    {
      const store = new SqliteDocStore({ path: freshPath })
      const p = await DocPersistence.open({ doc: freshCopy(board), store, docId: D, compactor: null })
      await p.flushed()
      await p.destroy()
      await store.close()
    }
    const freshStored = Y.encodeStateAsUpdate(freshCopy(board)).byteLength

    // A peer holding the edited board starts an epoch: archive of the old epoch, then the atomic switch.
    const path = tempPath('peer.db')
    const store = new SqliteDocStore({ path })
    // Stored as log compaction leaves it: one V2 snapshot (55x smaller than V1 for this history).
    expect(await store.compact(D, Y.encodeStateAsUpdateV2(board), 0)).toEqual({ ok: true })
    const { persistence, epochs, session } = await openEpochPeer({
      doc: new Y.Doc(),
      store,
      docId: D,
      compactor: null,
    })
    const record = await epochs.start()
    await persistence.flushed()
    const archive = await store.load(epochArchiveId(D, '0'))
    const main = await store.load(D)
    epochs.destroy()
    session.destroy()
    await persistence.destroy()
    await store.close()

    // On disk, archive included: within 2x of the fresh document's store (the record once, COMPACT-6.2c, kept as
    // bytes, STORE-4.3; signaling/test/relay/epochStoreSize.test.ts measures a relay reset and a following peer).
    expect(sqliteFileBytes(path)).toBeLessThanOrEqual(2 * sqliteFileBytes(freshPath))
    // The archive is one V2 snapshot: the old epoch's state (mostly deleted map entries, run-length encoded).
    expect(archive?.updates.length).toBe(0)
    expect(archive?.snapshot).not.toBeNull()
    const archived = new Y.Doc()
    applyStoredDoc(archived, archive!, null)
    expect(archived.getMap('shapes').toJSON()).toEqual(board.getMap('shapes').toJSON())
    // Retained size: the archive's state is at most the fresh document's V1 state (it was 50x more as V1)...
    expect(archive!.byteLength).toBeLessThanOrEqual(freshStored)
    // ...and the name of the child record, which only the document's own `epoch-record` holds (COMPACT-6.2c).
    expect(archive!.meta[EPOCH_CHILD_META_KEY]).toBeUndefined()
    expect(archive!.meta[EPOCH_CHILD_ID_META_KEY]).toBe(record.id)
    expect(main?.meta['epoch']).toBe(record.id)
    expect(main?.meta[EPOCH_RECORD_META_KEY]).toBe(toBase64(encodeStoredEpochRecord(record)))
  })

  it('COMPACT-6.2b: an archive written as V1 appends (older versions) still loads, and completing it stores one V2 snapshot', async () => {
    const store = new SqliteDocStore({ path: ':memory:' })
    try {
      const old = whiteboard(20, 10)
      const { record } = startEpoch(old)
      // What older versions wrote: the V1 state appended, then the record in the meta.
      const id = epochArchiveId(D, '0')
      await store.append(id, Y.encodeStateAsUpdate(old))
      await store.setMeta(id, EPOCH_CHILD_META_KEY, toBase64(encodeEpochRecord(record)))
      const legacy = await readEpochArchive(store, D, '0')
      expect(legacy?.child.id).toBe(record.id)
      const doc = new Y.Doc()
      applyStoredDoc(doc, legacy!.stored, null)
      expect(doc.getMap('shapes').toJSON()).toEqual(old.getMap('shapes').toJSON())

      // Completing it (a switch retried with more of the old epoch) folds the V1 appends into one V2 snapshot.
      old.getMap<Y.Map<number>>('shapes').get('shape-0')?.set('x', -1)
      await writeEpochArchive(store, D, '0', Y.encodeStateAsUpdateV2(old), record, { format: 'v2' })
      const completed = await readEpochArchive(store, D, '0')
      expect(completed?.stored.updates.length).toBe(0)
      const again = new Y.Doc()
      applyStoredDoc(again, completed!.stored, null)
      expect(again.getMap('shapes').toJSON()).toEqual(old.getMap('shapes').toJSON())
    } finally {
      await store.close()
    }
  })
})

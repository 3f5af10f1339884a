import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { fromBase64, toBase64 } from 'lib0/buffer'
import { docId, type DocId } from '../../src/ids.js'
import type { CompactOptions, CompactResult, DocStore } from '../../src/storage/DocStore.js'
import {
  EPOCH_CHILD_ID_META_KEY,
  EPOCH_CHILD_META_KEY,
  EPOCH_RECORD_META_KEY,
  decodeEpochRecord,
  encodeEpochRecord,
  encodeStoredEpochRecord,
  epochArchiveId,
  persistEpoch,
  readEpochArchive,
  readEpochRecord,
  startEpoch,
  writeEpochArchive,
} from '../../src/storage/epochs.js'
import type { EpochRecord } from '../../src/storage/epochRecord.js'
import { MemoryDocStore } from '../../src/testing/MemoryDocStore.js'
import { draggedWhiteboard } from '../../src/testing/whiteboardWorkload.js'

const D = docId('board')
const V2 = { format: 'v2' } as const

/** Every full copy of `record` in the store (document meta and archives, either form). */
const copiesOf = async (store: DocStore, record: EpochRecord): Promise<string[]> => {
  const found: string[] = []
  for (const id of await store.list()) {
    const meta = (await store.load(id))?.meta ?? {}
    for (const key of [EPOCH_RECORD_META_KEY, EPOCH_CHILD_META_KEY]) {
      const value = meta[key]
      if (value === undefined) continue
      const decoded = decodeEpochRecord(fromBase64(value))
      if (decoded.ok && decoded.record.id === record.id) found.push(`${id}:${key}`)
    }
  }
  return found
}

/** A switch as `DocPersistence.switchEpoch` and the relay store it: the archive, then the atomic step. */
const switchTo = async (store: DocStore, old: Y.Doc, oldEpoch: string, parent?: EpochRecord) => {
  const started = startEpoch(old, parent)
  await writeEpochArchive(store, D, oldEpoch, Y.encodeStateAsUpdateV2(old), started.record, V2)
  const clock = (await store.load(D))?.clock ?? 0
  expect(await persistEpoch(store, D, started.record, started.doc, clock)).toEqual({ ok: true })
  return started
}

/** A board stored in the initial epoch (one V2 snapshot). */
const boardStore = async (store: DocStore = new MemoryDocStore()) => {
  const board = draggedWhiteboard(40, 10)
  await store.compact(D, Y.encodeStateAsUpdateV2(board), 0)
  return { store, board }
}

/** Once armed, fails the epoch switch's atomic step, as a crash before it would: nothing of it is stored. */
class FailingSwitch extends MemoryDocStore {
  failSwitch = false

  override compact(
    id: DocId,
    snapshot: Uint8Array,
    through: number,
    options?: CompactOptions,
  ): Promise<CompactResult> {
    if (this.failSwitch && options?.meta?.['epoch'] !== undefined)
      return Promise.reject(new Error('crash before the switch'))
    return super.compact(id, snapshot, through, options)
  }
}

/** Fails every `setMeta` (the record sharing after a switch), as a crash right after the switch would. */
class FailingSetMeta extends MemoryDocStore {
  override setMeta(): Promise<void> {
    return Promise.reject(new Error('crash after the switch'))
  }
}

describe('an epoch record is stored once (COMPACT-6.2c)', () => {
  it('COMPACT-3.5: the stored form decodes to the same record, verified, and is smaller than the wire form', () => {
    const { record } = startEpoch(draggedWhiteboard(200, 10))
    const stored = encodeStoredEpochRecord(record)
    expect(decodeEpochRecord(stored)).toEqual({ ok: true, record })
    const wireProvenance =
      encodeEpochRecord(record).byteLength - record.initial.byteLength - record.base.byteLength
    const storedProvenance = stored.byteLength - record.initial.byteLength - record.base.byteLength
    expect(storedProvenance * 2).toBeLessThan(wireProvenance)
    // Truncated or padded columns are refused, as a damaged wire form is.
    expect(decodeEpochRecord(stored.slice(0, stored.length - 3)).ok).toBe(false)
    expect(decodeEpochRecord(new Uint8Array([...stored, 0])).ok).toBe(false)
  })

  it('COMPACT-6.2c: after a switch the document holds the record and its archive only names it; the archive serves it', async () => {
    const { store, board } = await boardStore()
    const { record } = await switchTo(store, board, '0')
    expect(await copiesOf(store, record)).toEqual([`${D}:${EPOCH_RECORD_META_KEY}`])
    const archive = await store.load(epochArchiveId(D, '0'))
    expect(archive?.meta[EPOCH_CHILD_ID_META_KEY]).toBe(record.id)
    // The document's entry is the stored form (COMPACT-3.5), base64 at the DocStore API (STORE-4.3).
    const meta = (await store.load(D))?.meta ?? {}
    expect(meta[EPOCH_RECORD_META_KEY]).toBe(toBase64(encodeStoredEpochRecord(record)))
    expect(readEpochRecord(meta)).toEqual({ ok: true, record })
    const archived = await readEpochArchive(store, D, '0')
    expect(archived?.child).toEqual(record)
    // Completing the archive (more of the old epoch) keeps naming the record.
    board.getMap<Y.Map<number>>('shapes').get('shape-0')?.set('x', -1)
    await writeEpochArchive(store, D, '0', Y.encodeStateAsUpdateV2(board), record, V2)
    expect(await copiesOf(store, record)).toEqual([`${D}:${EPOCH_RECORD_META_KEY}`])
    expect((await readEpochArchive(store, D, '0'))?.child.id).toBe(record.id)
  })

  it('COMPACT-6.2c: a second switch writes the replaced record into its archive first; every record is stored once and every archive serves its child', async () => {
    const { store, board } = await boardStore()
    const first = await switchTo(store, board, '0')
    first.doc.getMap<Y.Map<number>>('shapes').get('shape-1')?.set('y', 7)
    const second = await switchTo(store, first.doc, first.record.id, first.record)
    expect(await copiesOf(store, first.record)).toEqual([`${epochArchiveId(D, '0')}:${EPOCH_CHILD_META_KEY}`])
    expect(await copiesOf(store, second.record)).toEqual([`${D}:${EPOCH_RECORD_META_KEY}`])
    expect((await readEpochArchive(store, D, '0'))?.child).toEqual(first.record)
    expect((await readEpochArchive(store, D, first.record.id))?.child).toEqual(second.record)
  })

  it('COMPACT-6.2c: a store written by the previous version (both copies in full, base64 of the wire form) opens and switches the same', async () => {
    const store = new MemoryDocStore()
    const board = draggedWhiteboard(40, 10)
    const first = startEpoch(board)
    // What the previous version wrote: the archive with the record in full, then the document with it again.
    const wire = toBase64(encodeEpochRecord(first.record))
    await store.compact(epochArchiveId(D, '0'), Y.encodeStateAsUpdateV2(board), 0, {
      meta: { [EPOCH_CHILD_META_KEY]: wire },
    })
    await store.compact(D, Y.encodeStateAsUpdateV2(first.doc), 0, {
      meta: { epoch: first.record.id, [EPOCH_RECORD_META_KEY]: wire },
    })
    expect(readEpochRecord((await store.load(D))?.meta ?? {})).toEqual({ ok: true, record: first.record })
    expect((await readEpochArchive(store, D, '0'))?.child).toEqual(first.record)

    // The next switch: the old archive keeps its full copy, the document its new record, the new archive a name.
    first.doc.getMap<Y.Map<number>>('shapes').get('shape-2')?.set('x', 3)
    const second = await switchTo(store, first.doc, first.record.id, first.record)
    expect(await copiesOf(store, first.record)).toEqual([`${epochArchiveId(D, '0')}:${EPOCH_CHILD_META_KEY}`])
    expect(await copiesOf(store, second.record)).toEqual([`${D}:${EPOCH_RECORD_META_KEY}`])
    expect((await readEpochArchive(store, D, '0'))?.child).toEqual(first.record)
    expect((await readEpochArchive(store, D, first.record.id))?.child).toEqual(second.record)
  })

  it('COMPACT-3.4, COMPACT-6.2c: a crash before the next switch leaves the epoch with its record; the archive holds it in full by then', async () => {
    const failing = new FailingSwitch()
    const { store, board } = await boardStore(failing)
    const first = await switchTo(store, board, '0')
    expect(await copiesOf(store, first.record)).toEqual([`${D}:${EPOCH_RECORD_META_KEY}`])
    failing.failSwitch = true
    const second = startEpoch(first.doc, first.record)
    const clock = (await store.load(D))?.clock ?? 0
    await expect(persistEpoch(store, D, second.record, second.doc, clock)).rejects.toThrow('crash')
    // Still the first epoch, its record readable from the document and, in full, from the archive of epoch 0.
    expect(readEpochRecord((await store.load(D))?.meta ?? {})).toEqual({ ok: true, record: first.record })
    expect((await copiesOf(store, first.record)).sort()).toEqual(
      [`${D}:${EPOCH_RECORD_META_KEY}`, `${epochArchiveId(D, '0')}:${EPOCH_CHILD_META_KEY}`].sort(),
    )
    expect((await readEpochArchive(store, D, '0'))?.child).toEqual(first.record)
  })

  it('COMPACT-6.2c: a crash right after the switch leaves the record stored twice, never lost', async () => {
    const { store, board } = await boardStore(new FailingSetMeta())
    const { record } = await switchTo(store, board, '0')
    expect((await copiesOf(store, record)).sort()).toEqual(
      [`${D}:${EPOCH_RECORD_META_KEY}`, `${epochArchiveId(D, '0')}:${EPOCH_CHILD_META_KEY}`].sort(),
    )
    expect((await readEpochArchive(store, D, '0'))?.child).toEqual(record)
  })

  it('COMPACT-6.2c: an archive naming a record the document does not hold is not served', async () => {
    const { store, board } = await boardStore()
    const { record } = await switchTo(store, board, '0')
    await store.setMeta(epochArchiveId(D, '0'), EPOCH_CHILD_ID_META_KEY, `${record.seq}-0123456789abcdef`)
    expect(await readEpochArchive(store, D, '0')).toBeNull()
  })
})

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { toBase64 } from 'lib0/buffer'
import { docId } from '@weft/core'
import {
  EPOCH_CHILD_ID_META_KEY,
  EPOCH_CHILD_META_KEY,
  EPOCH_RECORD_META_KEY,
  encodeEpochRecord,
  epochArchiveId,
  persistEpoch,
  readEpochArchive,
  readEpochRecord,
  startEpoch,
  writeEpochArchive,
} from '@weft/core/epochs'
import { draggedWhiteboard } from '@weft/core/testing'
import { SqliteDocStore } from '../src/index.js'

// STORE-4.3: the epoch records (base64 meta entries) are kept as bytes; files of the previous version (TEXT) open.

const D = docId('board')
const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})
const tempPath = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-record-'))
  dirs.push(dir)
  return join(dir, 'store.db')
}

/** The storage class and size of each meta entry of `doc`, read from the file with SQLite itself. */
const metaRows = (path: string, doc: string): Record<string, { type: string; bytes: number }> => {
  const db = new Database(path, { readonly: true })
  try {
    const rows = db
      .prepare('SELECT key, typeof(value) AS type, length(value) AS bytes FROM weft_meta WHERE doc = ?')
      .all(doc) as { key: string; type: string; bytes: number }[]
    return Object.fromEntries(rows.map((r) => [r.key, { type: r.type, bytes: r.bytes }]))
  } finally {
    db.close()
  }
}

describe('epoch records in SQLite (STORE-4.3)', () => {
  it('STORE-4.3: an epoch record is stored as a BLOB of its bytes, smaller than its base64, and loads as the same base64', async () => {
    const path = tempPath()
    const board = draggedWhiteboard(60, 10)
    const { record, doc } = startEpoch(board)
    const store = new SqliteDocStore({ path })
    await store.compact(D, Y.encodeStateAsUpdateV2(board), 0)
    await writeEpochArchive(store, D, '0', Y.encodeStateAsUpdateV2(board), record, { format: 'v2' })
    expect(await persistEpoch(store, D, record, doc, 0)).toEqual({ ok: true })
    const meta = (await store.load(D))!.meta
    await store.close()

    const rows = metaRows(path, D)
    expect(rows[EPOCH_RECORD_META_KEY]?.type).toBe('blob')
    expect(rows[EPOCH_RECORD_META_KEY]!.bytes).toBeLessThan(meta[EPOCH_RECORD_META_KEY]!.length / 2)
    expect(metaRows(path, epochArchiveId(D, '0'))[EPOCH_CHILD_ID_META_KEY]?.type).toBe('text')

    const reopened = new SqliteDocStore({ path })
    try {
      expect((await reopened.load(D))?.meta).toEqual(meta)
      expect(readEpochRecord(meta)).toEqual({ ok: true, record })
      expect((await readEpochArchive(reopened, D, '0'))?.child).toEqual(record)
    } finally {
      await reopened.close()
    }
  })

  it('STORE-4.3, COMPACT-6.2c: a file of the previous version (records in full as TEXT in the document and the archive) opens, reads and switches the same', async () => {
    const path = tempPath()
    const board = draggedWhiteboard(60, 10)
    const first = startEpoch(board)
    {
      const store = new SqliteDocStore({ path })
      await store.compact(epochArchiveId(D, '0'), Y.encodeStateAsUpdateV2(board), 0)
      await store.compact(D, Y.encodeStateAsUpdateV2(first.doc), 0)
      await store.close()
    }
    // The rows the previous version wrote, as it wrote them: TEXT, base64 of the wire form, in both places.
    const wire = toBase64(encodeEpochRecord(first.record))
    const raw = new Database(path)
    const put = raw.prepare('INSERT INTO weft_meta (doc, key, value) VALUES (?, ?, ?)')
    put.run(D, 'epoch', first.record.id)
    put.run(D, EPOCH_RECORD_META_KEY, wire)
    put.run(epochArchiveId(D, '0'), EPOCH_CHILD_META_KEY, wire)
    put.run(D, 'note', 'not base64!')
    raw.close()

    const store = new SqliteDocStore({ path })
    try {
      const meta = (await store.load(D))!.meta
      expect(meta).toEqual({ epoch: first.record.id, [EPOCH_RECORD_META_KEY]: wire, note: 'not base64!' })
      expect(readEpochRecord(meta)).toEqual({ ok: true, record: first.record })
      expect((await readEpochArchive(store, D, '0'))?.child).toEqual(first.record)

      // The next switch: the new record is a BLOB in the document, the new archive names it, the old one keeps its TEXT.
      first.doc.getMap<Y.Map<number>>('shapes').get('shape-3')?.set('x', 1)
      const second = startEpoch(first.doc, first.record)
      await writeEpochArchive(store, D, first.record.id, Y.encodeStateAsUpdateV2(first.doc), second.record, {
        format: 'v2',
      })
      expect(await persistEpoch(store, D, second.record, second.doc, 0)).toEqual({ ok: true })
      expect((await readEpochArchive(store, D, '0'))?.child).toEqual(first.record)
      expect((await readEpochArchive(store, D, first.record.id))?.child).toEqual(second.record)
      expect(readEpochRecord((await store.load(D))!.meta)).toEqual({ ok: true, record: second.record })
    } finally {
      await store.close()
    }
    expect(metaRows(path, D)[EPOCH_RECORD_META_KEY]?.type).toBe('blob')
    expect(metaRows(path, epochArchiveId(D, '0'))[EPOCH_CHILD_META_KEY]?.type).toBe('text')
    expect(metaRows(path, epochArchiveId(D, first.record.id))[EPOCH_CHILD_ID_META_KEY]?.type).toBe('text')
  })

  it('STORE-4.3: a base64 entry that is not canonical base64 is kept as TEXT and loads as written; a BLOB that does not inflate is store-corrupted', async () => {
    const path = tempPath()
    const store = new SqliteDocStore({ path })
    await store.setMeta(D, EPOCH_RECORD_META_KEY, 'AAAA=')
    expect((await store.load(D))?.meta[EPOCH_RECORD_META_KEY]).toBe('AAAA=')
    await store.close()
    expect(metaRows(path, D)[EPOCH_RECORD_META_KEY]?.type).toBe('text')
    const raw = new Database(path)
    raw.prepare('UPDATE weft_meta SET value = ? WHERE doc = ?').run(Buffer.from([1, 2, 3]), D)
    raw.close()
    const reopened = new SqliteDocStore({ path })
    try {
      await expect(reopened.load(D)).rejects.toMatchObject({ code: 'store-corrupted' })
    } finally {
      await reopened.close()
    }
  })
})

import 'fake-indexeddb/auto'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { toBase64 } from 'lib0/buffer'
import { docId } from '@weft/core'
import {
  EPOCH_RECORD_META_KEY,
  encodeEpochRecord,
  persistEpoch,
  readEpochRecord,
  startEpoch,
} from '@weft/core/epochs'
import { draggedWhiteboard } from '@weft/core/testing'
import { IndexedDbDocStore } from '../../src/indexeddb/index.js'

// STORE-4.3: IndexedDbDocStore keeps the epoch records as bytes; databases of older versions (strings) load as they are.

const D = docId('board')
let n = 0
const dbName = () => `weft-record-bytes-${n++}`

/** The raw value of one meta row, read with IndexedDB itself. */
const rawMeta = (name: string, key: string): Promise<unknown> =>
  new Promise((resolve, reject) => {
    const open = indexedDB.open(name)
    open.onerror = () => reject(open.error as Error)
    open.onsuccess = () => {
      const db = open.result
      const req = db.transaction(['meta'], 'readonly').objectStore('meta').get([D, key])
      req.onsuccess = () => {
        db.close()
        resolve(req.result)
      }
      req.onerror = () => reject(req.error as Error)
    }
  })

describe('epoch records in IndexedDB (STORE-4.3)', () => {
  it('STORE-4.3: the record is stored as a Uint8Array and loads as the same base64; a record written as a string by an older version loads as it is', async () => {
    const name = dbName()
    const board = draggedWhiteboard(30, 5)
    const { record, doc } = startEpoch(board)
    const store = new IndexedDbDocStore({ name })
    try {
      await store.compact(D, Y.encodeStateAsUpdateV2(board), 0)
      expect(await persistEpoch(store, D, record, doc, 0)).toEqual({ ok: true })
      const meta = (await store.load(D))!.meta
      expect(readEpochRecord(meta)).toEqual({ ok: true, record })
      const raw = await rawMeta(name, EPOCH_RECORD_META_KEY)
      expect(raw).toBeInstanceOf(Uint8Array)
      expect(toBase64(raw as Uint8Array)).toBe(meta[EPOCH_RECORD_META_KEY])

      // What older versions wrote: the wire form, base64, as a string (written to the row directly).
      const wire = toBase64(encodeEpochRecord(record))
      await new Promise<void>((resolve, reject) => {
        const open = indexedDB.open(name)
        open.onsuccess = () => {
          const tx = open.result.transaction(['meta'], 'readwrite')
          tx.objectStore('meta').put(wire, [D, EPOCH_RECORD_META_KEY])
          tx.oncomplete = () => {
            open.result.close()
            resolve()
          }
          tx.onerror = () => reject(tx.error as Error)
        }
      })
      expect(await rawMeta(name, EPOCH_RECORD_META_KEY)).toBe(wire)
      const old = (await store.load(D))!.meta
      expect(old[EPOCH_RECORD_META_KEY]).toBe(wire)
      expect(readEpochRecord(old)).toEqual({ ok: true, record })
    } finally {
      await store.close()
    }
  })
})

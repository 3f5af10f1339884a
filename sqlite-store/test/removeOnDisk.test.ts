import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { docId, type DocId } from '@weft/core'
import { SqliteDocStore, sqliteFileBytes } from '../src/index.js'

// WS-PURGE-3 on SQLite: what a removal (a purge, an eviction) leaves on disk; STORE-5.3 across processes.

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})
const tempPath = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-remove-'))
  dirs.push(dir)
  return join(dir, 'store.sqlite')
}

const MARK = 'PURGEDMARK'
/** Occurrences of the marker in the database file and in its write-ahead log. */
const marks = (path: string): { db: number; wal: number } => {
  const count = (file: string): number =>
    existsSync(file) ? readFileSync(file).toString('latin1').split(MARK).length - 1 : 0
  return { db: count(path), wal: count(`${path}-wal`) }
}

/** `n` documents `W/doc<i>` of edited text holding the marker; every other one compacted (as a peer does). */
const fill = async (store: SqliteDocStore, n: number, workspace = 'team', mark = MARK): Promise<DocId[]> => {
  const ids: DocId[] = []
  for (let i = 0; i < n; i++) {
    const id = docId(`${workspace}/doc${i}`)
    ids.push(id)
    const doc = new Y.Doc()
    const appends: Promise<number>[] = []
    doc.on('update', (u: Uint8Array) => appends.push(store.append(id, u)))
    for (let k = 0; k < 20; k++)
      doc.getText('t').insert(0, `${mark}-${i}-${k} lorem ipsum dolor sit amet `.repeat(4))
    await Promise.all(appends)
    if (i % 2 === 0) {
      const stored = await store.load(id)
      expect(await store.compact(id, Y.encodeStateAsUpdateV2(doc), stored!.clock)).toEqual({ ok: true })
    }
  }
  return ids
}

describe('SqliteDocStore conditional removal across connections (STORE-5.3)', () => {
  it('STORE-5.3: a removal conditional on what one connection loaded is stale after another appended', async () => {
    const path = tempPath()
    // Two stores on one file: two processes sharing it (e.g. two Node peers of one workspace).
    const [a, b] = [new SqliteDocStore({ path }), new SqliteDocStore({ path })]
    const D = docId('team/y')
    await a.append(D, Uint8Array.of(1))
    const seen = (await a.load(D))!.clock
    await b.append(D, Uint8Array.of(2), { meta: { 'weft:local-changes': '1' } })
    expect(await a.remove(D, { ifClock: seen })).toEqual({ ok: false, reason: 'stale' })
    expect((await b.load(D))?.updates.map((u) => [...u])).toEqual([[1], [2]])
    const now = (await b.load(D))!.clock
    expect(await a.remove(D, { ifClock: now })).toEqual({ ok: true })
    expect(await b.load(D)).toBeNull()
    await Promise.all([a.close(), b.close()])
  })
})

describe('SqliteDocStore removal on disk (WS-PURGE-3)', () => {
  it('WS-PURGE-3: once every document is removed, the file gives its pages back', async () => {
    const path = tempPath()
    const store = new SqliteDocStore({ path })
    const ids = await fill(store, 200)
    await store.close()
    const full = sqliteFileBytes(path)
    const reopened = new SqliteDocStore({ path })
    for (const id of ids) expect(await reopened.remove(id)).toEqual({ ok: true })
    // Settled while still open (a relay never closes its store): the file and its log are small.
    const removed = sqliteFileBytes(path)
    expect(removed).toBeLessThan(full / 4)
    await reopened.close()
    expect(sqliteFileBytes(path)).toBeLessThan(full / 4)
  })

  it('WS-PURGE-3: a resolved removal leaves none of the content in the file or its write-ahead log', async () => {
    const path = tempPath()
    const store = new SqliteDocStore({ path })
    // Documents of another workspace stay: their rows share pages with the removed ones.
    const kept = await fill(store, 20, 'other', 'KEPT')
    const ids = await fill(store, 100)
    expect(marks(path).db + marks(path).wal).toBeGreaterThan(0)
    for (const id of ids) expect(await store.remove(id)).toEqual({ ok: true })
    // No close: as after a kill -9 right after the removals resolved.
    expect(marks(path)).toEqual({ db: 0, wal: 0 })
    for (const id of kept) expect(await store.load(id)).not.toBeNull()
    await store.close()
  })
})

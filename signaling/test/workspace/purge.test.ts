import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { pino } from 'pino'
import Database from 'better-sqlite3'
import * as Y from 'yjs'
import {
  CATALOGUE_COLLECTION,
  CATALOGUE_DELETIONS,
  docId,
  loadCatalogueTombstones,
  purgeSeenMetaKey,
  type DocId,
  writeDeletion,
  type DocStore,
} from '@weft/core'
import { MemoryDocStore } from '@weft/core/testing'
import { SqliteDocStore } from '@weft/sqlite-store'
import {
  DELETIONS_UNKNOWN,
  DOCUMENT_DELETED,
  WorkspacePurger,
  purgeIntervalOf,
  workspaceRetentionOf,
} from '../../src/workspace/WorkspacePurger.js'

const quiet = pino({ level: process.env['WEFT_TEST_LOG'] ?? 'silent' })
const DAY = 24 * 60 * 60 * 1000
const NOW = Date.UTC(2026, 11, 1)
const dirs: string[] = []
const stores: DocStore[] = []

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => undefined)
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** A catalogue update as the client writes it (schema `weft-catalogue`: one Y.Map record per document). */
const catalogueUpdate = (records: Record<string, { deleted?: unknown; deletedAt?: unknown }>): Uint8Array => {
  const doc = new Y.Doc()
  const documents = doc.getMap(CATALOGUE_COLLECTION)
  for (const [id, fields] of Object.entries(records)) {
    const record = new Y.Map<unknown>()
    record.set('title', `title of ${id}`)
    for (const [k, v] of Object.entries(fields)) record.set(k, v)
    documents.set(id, record)
  }
  return Y.encodeStateAsUpdate(doc)
}

/** A document update holding `text` (a marker to find in the file's bytes). */
const textUpdate = (text: string): Uint8Array => {
  const doc = new Y.Doc()
  doc.getText('t').insert(0, text)
  return Y.encodeStateAsUpdate(doc)
}

const sqliteStore = (): { store: SqliteDocStore; path: string } => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-purge-'))
  dirs.push(dir)
  const path = join(dir, 'relay.sqlite')
  const store = new SqliteDocStore({ path })
  stores.push(store)
  return { store, path }
}

const purger = (store: DocStore, loaded: Set<string> = new Set(), now = () => NOW) =>
  new WorkspacePurger({ store, retention: DAY, isLoaded: (room) => loaded.has(room), now, logger: quiet })

/**
 * Seeds workspace `team`: `gone` deleted 2 days ago, `fresh` deleted an hour ago (as the relay saw them: its
 * `purge-seen` meta says so), `live` not deleted.
 */
const seed = async (store: DocStore): Promise<void> => {
  await store.append(
    docId('team/.catalogue'),
    catalogueUpdate({
      gone: { deleted: true, deletedAt: NOW - 2 * DAY },
      fresh: { deleted: true, deletedAt: NOW - DAY / 24 },
      live: {},
    }),
  )
  await store.setMeta(docId('team/.catalogue'), purgeSeenMetaKey('gone'), String(NOW - 2 * DAY))
  await store.setMeta(docId('team/.catalogue'), purgeSeenMetaKey('fresh'), String(NOW - DAY / 24))
  await store.append(docId('team/gone'), textUpdate('MARKER-of-the-purged-document'))
  await store.setMeta(docId('team/gone'), 'weft:pending-local', '3')
  await store.append(docId('team/gone~epoch~2'), textUpdate('MARKER-of-its-epoch-archive'))
  await store.append(docId('team/fresh'), textUpdate('fresh'))
  await store.append(docId('team/live'), textUpdate('live'))
  await store.append(docId('team/gone-not'), textUpdate('a document whose id starts like the purged one'))
}

/** Only the DocStore methods of `inner` (no workspaceSeq, changesSince or workspaces), with `load` if given. */
const plainStore = (inner: DocStore, load: DocStore['load'] = (id) => inner.load(id)): DocStore => ({
  load,
  append: (id, u, o) => inner.append(id, u, o),
  compact: (id, s, c, o) => inner.compact(id, s, c, o),
  setMeta: (id, k, v) => inner.setMeta(id, k, v),
  remove: (id) => inner.remove(id),
  list: () => inner.list(),
  close: () => inner.close(),
})

describe('the relay purge of deleted workspace documents', () => {
  it('WS-PURGE-2: the tombstones of a catalogue as the client writes it; junk records read as the schema reads them', async () => {
    const store = new MemoryDocStore()
    await store.append(
      docId('w/.catalogue'),
      catalogueUpdate({
        a: { deleted: true, deletedAt: 5 },
        b: { deleted: true, deletedAt: 'yesterday' },
        c: { deleted: false, deletedAt: 7 },
        '.hidden': { deleted: true, deletedAt: 1 },
        d: { deleted: 'yes' },
      }),
    )
    const tombstones = await loadCatalogueTombstones(store, 'w')
    expect(tombstones.sort((x, y) => (x.doc < y.doc ? -1 : 1))).toEqual([
      { doc: 'a', deletedAt: 5 },
      { doc: 'b', deletedAt: 0 },
    ])
    expect(await loadCatalogueTombstones(store, 'none')).toEqual([])
  })

  it('WS-PURGE-10: the relay reads the rule: a deletion entry keeps a document deleted whatever its record says, with the earliest deletedAt', async () => {
    const store = new MemoryDocStore()
    const deleter = (client: number, at: number): Y.Doc => {
      const doc = new Y.Doc()
      doc.clientID = client
      writeDeletion(doc, 'a', at)
      return doc
    }
    // A record rewritten live (a concurrent create) and two deleting replicas' entries; `b` is named by an entry only.
    await store.append(docId('w/.catalogue'), catalogueUpdate({ a: { deleted: false }, b: {} }))
    await store.append(docId('w/.catalogue'), Y.encodeStateAsUpdate(deleter(7, 900)))
    await store.append(docId('w/.catalogue'), Y.encodeStateAsUpdate(deleter(8, 300)))
    const late = deleter(9, 5_000)
    writeDeletion(late, 'a', 6_000) // an earlier entry of the same writer is kept
    writeDeletion(late, '.hidden', 1) // names no document: skipped
    late.getMap(CATALOGUE_DELETIONS).set('c', 1) // not `<D>~<writer>`: skipped
    late.getMap(CATALOGUE_DELETIONS).set('b~9', 'soon') // not a number: 0, as the schema reads deletedAt
    await store.append(docId('w/.catalogue'), Y.encodeStateAsUpdate(late))
    const tombstones = await loadCatalogueTombstones(store, 'w')
    expect(tombstones.sort((x, y) => (x.doc < y.doc ? -1 : 1))).toEqual([
      { doc: 'a', deletedAt: 300 },
      { doc: 'b', deletedAt: 0 },
    ])
  })

  it('WS-PURGE-3, WS-PURGE-4: a sweep removes, from the SQLite file itself, the data of documents past the retention and nothing else', async () => {
    const { store, path } = sqliteStore()
    await seed(store)
    const p = purger(store)
    expect(await p.sweep()).toEqual({ read: 1, purged: ['team/gone'], held: [] })
    expect((await store.list()).sort()).toEqual(
      ['team/.catalogue', 'team/fresh', 'team/gone-not', 'team/live'].sort(),
    )
    expect(await store.load(docId('team/gone'))).toBeNull()
    // The catalogue's tombstone stays (WS-PURGE-7).
    expect((await loadCatalogueTombstones(store, 'team')).map((t) => t.doc).sort()).toEqual(['fresh', 'gone'])
    // Nothing changed since: the next sweep reads no catalogue and removes nothing.
    expect(await p.sweep()).toEqual({ read: 0, purged: [], held: [] })
    await p.close()
    await store.close()

    // The rows are gone from the file (updates, snapshots and meta), and so are the bytes.
    const db = new Database(path, { readonly: true })
    for (const table of ['weft_updates', 'weft_snapshots', 'weft_meta']) {
      const row = db
        .prepare(`SELECT count(*) AS n FROM ${table} WHERE doc LIKE 'team/gone%' AND doc <> 'team/gone-not'`)
        .get() as { n: number }
      expect(row.n, table).toBe(0)
    }
    db.close()
    const file = readFileSync(path)
    expect(file.includes('MARKER-of-the-purged-document')).toBe(false)
    expect(file.includes('MARKER-of-its-epoch-archive')).toBe(false)
    expect(file.includes('a document whose id starts like the purged one')).toBe(true)
  })

  it('WS-PURGE-4: a room loaded on this node is left for a later sweep; a tombstone that comes of age is purged then', async () => {
    const store = new MemoryDocStore()
    await seed(store)
    const loaded = new Set(['team/gone'])
    let now = NOW
    const p = purger(store, loaded, () => now)
    expect(await p.sweep()).toEqual({ read: 1, purged: [], held: ['team/gone'] })
    expect(await store.load(docId('team/gone'))).not.toBeNull()
    loaded.clear()
    now = NOW + DAY
    const sweep = await p.sweep()
    expect({ ...sweep, purged: [...sweep.purged].sort() }).toEqual({
      read: 0,
      purged: ['team/fresh', 'team/gone'],
      held: [],
    })
    expect((await store.list()).sort()).toEqual(['team/.catalogue', 'team/gone-not', 'team/live'])
  })

  it('WS-PURGE-5: verdictOf() answers from the last read of the catalogue: past the retention yes, younger tombstones and live documents no', async () => {
    const store = new MemoryDocStore()
    await seed(store)
    let now = NOW
    const p = purger(store, new Set(), () => now)
    expect(p.verdictOf('team/gone')).toBe('unknown') // not read yet: read now
    expect(p.verdictOf('team/.catalogue')).toBe('live')
    await p.watch('team')
    expect(p.verdictOf('team/gone')).toBe('deleted')
    expect(p.verdictOf('team/fresh')).toBe('live')
    expect(p.verdictOf('team/live')).toBe('live')
    expect(p.verdictOf('team/.catalogue')).toBe('live')
    now = NOW + DAY
    expect(p.verdictOf('team/fresh')).toBe('deleted')
  })

  it('WS-PURGE-4: a document written again after its purge (a stock client at /relay/W/D) is purged again at the next sweep', async () => {
    const store = new MemoryDocStore()
    await seed(store)
    const p = purger(store)
    await p.sweep()
    await store.append(docId('team/gone'), textUpdate('written again'))
    expect(await p.sweep()).toEqual({ read: 1, purged: ['team/gone'], held: [] })
    expect(await store.load(docId('team/gone'))).toBeNull()
  })

  it('WS-PURGE-4: a store without a WorkspaceIndex is swept from its listing', async () => {
    const inner = new MemoryDocStore()
    const plain = plainStore(inner)
    await seed(plain)
    expect(await purger(plain).sweep()).toEqual({ read: 1, purged: ['team/gone'], held: [] })
    expect(await plain.list()).not.toContain('team/gone~epoch~2')
  })

  it('WS-PURGE-1: the retention counts from when the relay first saw a tombstone: a deletedAt of 0, missing, NaN or long past is not purged at the next sweep, only once the retention passed since', async () => {
    const store = new MemoryDocStore()
    await store.append(
      docId('team/.catalogue'),
      catalogueUpdate({
        zero: { deleted: true, deletedAt: 0 },
        missing: { deleted: true },
        nan: { deleted: true, deletedAt: Number.NaN },
        past: { deleted: true, deletedAt: NOW - 100 * DAY },
        future: { deleted: true, deletedAt: NOW + 100 * DAY },
      }),
    )
    const docs = ['zero', 'missing', 'nan', 'past', 'future']
    for (const d of docs) await store.append(docId(`team/${d}`), textUpdate(`text of ${d}`))
    let now = NOW
    const p = purger(store, new Set(), () => now)
    expect(await p.sweep()).toEqual({ read: 1, purged: [], held: [] })
    expect(p.verdictOf('team/zero')).toBe('live')
    // What the relay saw is recorded in the catalogue's meta.
    const meta = (await store.load(docId('team/.catalogue')))?.meta ?? {}
    for (const d of docs) expect(meta[purgeSeenMetaKey(d)], d).toBe(String(NOW))
    now = NOW + DAY - 1
    expect((await p.sweep()).purged).toEqual([])
    expect(p.verdictOf('team/zero')).toBe('live')
    now = NOW + DAY
    expect(p.verdictOf('team/zero')).toBe('deleted')
    expect([...(await p.sweep()).purged].sort()).toEqual(docs.map((d) => `team/${d}`).sort())
    expect(await store.list()).toEqual(['team/.catalogue'])
    await p.close()
  })

  it('WS-PURGE-1: a relay restart keeps when it first saw a tombstone (neither reset nor shortened)', async () => {
    const store = new MemoryDocStore()
    await store.append(docId('team/.catalogue'), catalogueUpdate({ gone: { deleted: true, deletedAt: 0 } }))
    await store.append(docId('team/gone'), textUpdate('text of gone'))
    const first = purger(store, new Set(), () => NOW)
    expect((await first.sweep()).purged).toEqual([])
    await first.close()
    // Restarted half a retention later: not due yet; due a retention after the first sighting, not after the restart.
    let now = NOW + DAY / 2
    const second = purger(store, new Set(), () => now)
    expect((await second.sweep()).purged).toEqual([])
    now = NOW + DAY
    expect((await second.sweep()).purged).toEqual(['team/gone'])
    await second.close()
  })

  it('WS-PURGE-1: a document undeleted within the retention loses its first sighting; deleted again, it counts afresh', async () => {
    const store = new MemoryDocStore()
    const catalogue = new Y.Doc()
    const record = new Y.Map<unknown>()
    catalogue.getMap(CATALOGUE_COLLECTION).set('doc', record)
    record.set('deleted', true)
    const write = async (): Promise<void> => {
      await store.append(docId('team/.catalogue'), Y.encodeStateAsUpdate(catalogue))
    }
    await write()
    await store.append(docId('team/doc'), textUpdate('text of doc'))
    let now = NOW
    const p = purger(store, new Set(), () => now)
    await p.sweep()
    now = NOW + DAY / 2
    record.set('deleted', false)
    await write()
    await p.sweep()
    const meta = (await store.load(docId('team/.catalogue')))?.meta ?? {}
    expect(meta[purgeSeenMetaKey('doc')]).toBeUndefined()
    now = NOW + (3 * DAY) / 4
    record.set('deleted', true)
    await write()
    await p.sweep()
    now = NOW + DAY
    expect((await p.sweep()).purged).toEqual([])
    now = NOW + DAY + (3 * DAY) / 4
    expect((await p.sweep()).purged).toEqual(['team/doc'])
    await p.close()
  })

  it('WS-PURGE-9: verdict() waits for the read of the workspace catalogue; a failed read answers unknown and is tried again', async () => {
    const inner = new MemoryDocStore()
    await seed(inner)
    let release: () => void = () => undefined
    let gate: Promise<void> | null = new Promise((resolve) => (release = resolve))
    let failing = false
    const store = plainStore(inner, async (id: DocId) => {
      if (id === 'team/.catalogue') {
        if (gate) await gate
        if (failing) throw new Error('the store is down')
      }
      return inner.load(id)
    })
    const p = purger(store)
    let answered: string | null = null
    const verdict = p.verdict('team/gone').then((v) => (answered = v))
    await Promise.resolve()
    expect(answered).toBeNull() // still reading: no decision yet
    release()
    await verdict
    expect(answered).toBe('deleted')
    expect(await p.verdict('team/live')).toBe('live')

    const q = purger(store)
    gate = null
    failing = true
    expect(await q.verdict('team/gone')).toBe('unknown')
    expect(await q.verdict('team/.catalogue')).toBe('live')
    failing = false
    expect(await q.verdict('team/gone')).toBe('deleted')
    await p.close()
    await q.close()
  })

  it('WS-PURGE-8, WS-PURGE-9: refusal() is the one decision of both ways into /relay/W/D: a promise only while the catalogue is unread', async () => {
    const inner = new MemoryDocStore()
    await seed(inner)
    let failing = true
    const store = plainStore(inner, async (id: DocId) => {
      if (id === 'team/.catalogue' && failing) throw new Error('the store is down')
      return inner.load(id)
    })
    const p = purger(store)
    expect(p.refusal('plain-room')).toBeNull()
    expect(p.refusal('team/.catalogue')).toBeNull()
    const unread = p.refusal('team/gone')
    expect(unread).toBeInstanceOf(Promise)
    expect(await unread).toEqual(DELETIONS_UNKNOWN) // the read failed: cannot vouch for it
    failing = false
    expect(await p.refusal('team/gone')).toEqual(DOCUMENT_DELETED) // read again by this join
    // Read: decided at once, from that read.
    expect(p.refusal('team/gone')).toEqual(DOCUMENT_DELETED)
    expect(p.refusal('team/fresh')).toBeNull()
    expect(p.refusal('team/live')).toBeNull()
    await p.close()
  })

  it('WS-PURGE-1: the retention option: default 30 days, false for never, anything else invalid; sweeps every quarter of it, at most hourly', () => {
    expect(workspaceRetentionOf(undefined)).toBe(30 * DAY)
    expect(workspaceRetentionOf(false)).toBeNull()
    expect(workspaceRetentionOf(0)).toBe(0)
    for (const bad of [-1, Number.NaN, Infinity])
      expect(() => workspaceRetentionOf(bad)).toThrow(/workspaceRetention/)
    expect(purgeIntervalOf(30 * DAY)).toBe(60 * 60 * 1000)
    expect(purgeIntervalOf(8000)).toBe(2000)
    expect(purgeIntervalOf(0)).toBe(1000)
  })
})

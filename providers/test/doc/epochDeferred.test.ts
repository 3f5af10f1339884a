/**
 * PROV-5.17 (COMPACT-8): openDoc's default keeps `doc` for the handle's life; an epoch reset waits for the next
 * openDoc, announced by `epoch-available`; nothing is reported saved meanwhile.
 */
import 'fake-indexeddb/auto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import { afterAll, describe, expect, it } from 'vitest'
import { DocPersistence, EpochManager, SyncSession, docId, type DocStore, type EpochRecord } from '@weft/core'
import { MemoryDocStore, MemoryNetwork, type MemoryTransport } from '@weft/core/testing'
import { SqliteDocStore } from '@weft/sqlite-store'
import { openDoc, type WeftDoc } from '../../src/index.js'
import { IndexedDbDocStore } from '../../src/indexeddb/index.js'
import { settle } from './support/memoryRelay.js'

/** The epoch authority (the role a relay with `--epoch-reset` plays): a storing peer with an EpochManager. */
const authorityOn = async (net: MemoryNetwork) => {
  const doc = new Y.Doc()
  const persistence = await DocPersistence.open({ doc, store: new MemoryDocStore(), docId: docId('d') })
  const epochs = new EpochManager({ persistence })
  const session = new SyncSession({
    doc,
    durable: () => persistence.flushed(),
    epoch: epochs.record,
    epochLineage: epochs.lineage,
  })
  epochs.bind(session)
  const hub = net.transport('authority')
  session.addTransport(hub)
  hub.connect()
  const close = async () => {
    epochs.destroy()
    session.destroy()
    await persistence.destroy()
  }
  return { session, epochs, hub, close }
}

let n = 0
const clientOn = async (net: MemoryNetwork, hub: MemoryTransport, store: DocStore): Promise<WeftDoc> => {
  const t = net.transport(`c${n++}`)
  net.link(t, hub)
  return openDoc({ docId: 'd', store, relay: t })
}

const dir = mkdtempSync(join(tmpdir(), 'weft-deferred-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let stores = 0
/** Every kind of client store: the waiting epoch, the switch at open and the count go through each one's contract. */
const storeKinds: Array<[string, () => DocStore]> = [
  ['MemoryDocStore', () => new MemoryDocStore()],
  ['IndexedDbDocStore (fake-indexeddb)', () => new IndexedDbDocStore({ name: `deferred-${stores++}` })],
  ['SqliteDocStore', () => new SqliteDocStore({ path: join(dir, `deferred-${stores++}.db`) })],
]

describe('openDoc default epoch mode (COMPACT-8)', () => {
  it.each(storeKinds)(
    'PROV-5.17 an epoch reset while open: same doc, epoch-available, edits pending and not saved; reopen takes it (%s)',
    async (_kind, makeStore) => {
      const net = new MemoryNetwork()
      const authority = await authorityOn(net)
      const store = makeStore()
      const d = await clientOn(net, authority.hub, store)
      const doc = d.doc
      const text = doc.getText('t')
      text.insert(0, 'hello')
      await settle(net)
      expect(d.status).toBe('synced')
      const changed: unknown[] = []
      d.on('epoch-changed', (e) => changed.push(e))
      const available = new Promise<EpochRecord>((resolve) =>
        d.on('epoch-available', ({ record }) => resolve(record)),
      )
      const record = await authority.epochs.start()
      await settle(net)
      expect((await available).id).toBe(record.id)
      expect(d.waitingEpoch?.id).toBe(record.id)
      text.insert(5, ' world')
      await settle(net)
      await d.persistence?.flushed()
      // The same Y.Doc, still working in its epoch; the edit is pending, and nothing says it is saved.
      expect(d.doc).toBe(doc)
      expect(changed).toEqual([])
      expect(d.doc.getText('t').toString()).toBe('hello world')
      expect(authority.session.doc.getText('t').toString()).toBe('hello')
      expect(d.pendingChanges).toBe(1)
      expect(d.status).not.toBe('synced')
      let saved = false
      void d.whenSaved().then(
        () => (saved = true),
        () => undefined,
      )
      await settle(net)
      expect(saved).toBe(false)
      await d.destroy()
      // Reopened: in the new epoch before openDoc resolves; the edit reaches the authority.
      const again = await clientOn(net, authority.hub, store)
      expect(again.session.epoch).toBe(record.id)
      expect(again.doc.getText('t').toString()).toBe('hello world')
      await settle(net)
      await again.whenSaved()
      expect(authority.session.doc.getText('t').toString()).toBe('hello world')
      expect(again.status).toBe('synced')
      await again.destroy()
      await authority.close()
      await store.close()
    },
  )
})

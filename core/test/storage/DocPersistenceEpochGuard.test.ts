import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { docId, type DocId } from '../../src/ids.js'
import { WeftErrorCode } from '../../src/WeftError.js'
import {
  Compactor,
  DocPersistence,
  applyStoredDoc,
  type EpochRecord,
  type StoredDoc,
} from '../../src/index.js'
import { epochArchiveId, persistEpoch, rebaseOnto, startEpoch } from '../../src/storage/epochs.js'
import { MemoryDocStore } from '../../src/testing/MemoryDocStore.js'

const D = docId('doc')

const text = (doc: Y.Doc): string => doc.getText('t').toString()

/** A writer of the store: a doc with its persistence, and the errors it reported. */
const writer = async (store: MemoryDocStore, compactor: Compactor | null = null) => {
  const doc = new Y.Doc()
  const persistence = await DocPersistence.open({ doc, store, docId: D, compactor })
  const errors: string[] = []
  persistence.on('error', ({ error }) => errors.push(error.code))
  return { doc, persistence, errors }
}

/** What a fresh open of the store gives. */
const reopened = async (store: MemoryDocStore): Promise<{ text: string; epoch: string | undefined }> => {
  const { doc, persistence } = await writer(store)
  await persistence.destroy()
  return { text: text(doc), epoch: (await store.load(D))?.meta.epoch }
}

/** A peer's switch as EpochManager hands it to DocPersistence: the new document is `initial` + the rebased changes. */
const switchTo = (persistence: DocPersistence, old: Y.Doc, record: EpochRecord, oldEpoch = '0') => {
  const rebase = (from: Y.Doc): Uint8Array | null => {
    const again = rebaseOnto(from, record)
    return again.ok ? again.update : null
  }
  const doc = new Y.Doc()
  Y.applyUpdateV2(doc, record.initial)
  const first = rebase(old)
  if (first) Y.applyUpdate(doc, first)
  return { doc, done: persistence.switchEpoch({ record, doc, old, oldEpoch, rebase }) }
}

/** Another writer of the store switches it to a new epoch started from `source`. */
const switchedElsewhere = async (store: MemoryDocStore, source: Y.Doc, parent?: EpochRecord) => {
  const started = startEpoch(source, parent)
  const clock = (await store.load(D))?.clock ?? 0
  expect(await persistEpoch(store, D, started.record, started.doc, clock)).toEqual({ ok: true })
  return started
}

/** A store that runs `afterLoad` (once) between a load and its result: another writer acting in that window. */
class HookedStore extends MemoryDocStore {
  afterLoad: ((stored: StoredDoc) => Promise<void>) | null = null
  override async load(id: DocId): Promise<StoredDoc | null> {
    const stored = await super.load(id)
    const hook = this.afterLoad
    this.afterLoad = null
    if (hook && stored) await hook(stored)
    return stored
  }
}

describe('DocPersistence with several writers of one store (COMPACT-6.6)', () => {
  it('STORE-7.8: a refused append stops appending, reports once, and flushed() rejects until the switch', async () => {
    const store = new MemoryDocStore()
    const b = await writer(store)
    b.doc.getText('t').insert(0, 'base')
    await b.persistence.flushed()
    const other = new Y.Doc()
    applyStoredDoc(other, (await store.load(D))!, null)
    const { record } = await switchedElsewhere(store, other)

    b.doc.getText('t').insert(4, ' one')
    await expect(b.persistence.flushed()).rejects.toMatchObject({ code: WeftErrorCode.EpochMismatch })
    expect(b.errors).toEqual([WeftErrorCode.EpochMismatch])
    const writes = store.writeCount
    b.doc.getText('t').insert(8, ' two')
    b.doc.getText('t').insert(12, ' three')
    // Nothing more is tried; flushed() tries the (epoch-checked) repair, which writes nothing either.
    await expect(b.persistence.flushed()).rejects.toMatchObject({ code: WeftErrorCode.EpochMismatch })
    expect(store.writeCount).toBe(writes)
    expect(b.errors).toEqual([WeftErrorCode.EpochMismatch])
    expect(await reopened(store)).toEqual({ text: 'base', epoch: record.id })

    // The peers' offer arrives: B switches; the store is already in that epoch, so B's whole document goes on top.
    const { doc, done } = switchTo(b.persistence, b.doc, record)
    await done
    await expect(b.persistence.flushed()).resolves.toBeUndefined()
    expect(text(doc)).toBe('base one two three')
    doc.getText('t').insert(0, '>')
    await b.persistence.flushed()
    expect(await reopened(store)).toEqual({ text: '>base one two three', epoch: record.id })
  })

  it("COMPACT-6.6, STORE-3.7: an old-epoch append after the switcher's clock makes its switch reload and re-apply it", async () => {
    const store = new MemoryDocStore()
    const a = await writer(store)
    a.doc.getText('t').insert(0, 'base')
    await a.persistence.flushed()
    // B appends to the old epoch after A's last clock (A has not received it).
    const b = await writer(store)
    b.doc.getText('t').insert(4, ' from b')
    await b.persistence.flushed()
    const { record } = startEpoch(a.doc)
    const { doc, done } = switchTo(a.persistence, a.doc, record)
    await done
    // The starter re-applies what it found (a rebase function, not `() => null`), so it is stored in the new epoch.
    expect(text(doc)).toBe('base from b')
    expect(await reopened(store)).toEqual({ text: 'base from b', epoch: record.id })
    expect((await store.load(D))?.updates).toEqual([])
    // The archive of the old epoch has it too.
    const archive = new Y.Doc()
    applyStoredDoc(archive, (await store.load(epochArchiveId(D, '0')))!, null)
    expect(text(archive)).toBe('base from b')
    expect(a.errors).toEqual([])
  })

  it('STORE-7.8: a switch that finds the store in a third epoch is not stored; the writer waits for that one', async () => {
    const store = new MemoryDocStore()
    const a = await writer(store)
    a.doc.getText('t').insert(0, 'base')
    await a.persistence.flushed()
    const { record: first } = startEpoch(a.doc)
    // Another writer went from "0" through `first` to `second` before A's switch to `first` is stored.
    const firstDoc = new Y.Doc()
    Y.applyUpdateV2(firstDoc, first.initial)
    firstDoc.getText('t').insert(0, '!')
    const { record: second } = await switchedElsewhere(store, firstDoc, first)
    const { doc, done } = switchTo(a.persistence, a.doc, first)
    await done
    expect(a.errors).toEqual([WeftErrorCode.EpochMismatch])
    doc.getText('t').insert(4, ' a')
    await expect(a.persistence.flushed()).rejects.toMatchObject({ code: WeftErrorCode.EpochMismatch })
    expect(await reopened(store)).toEqual({ text: '!base', epoch: second.id })
    // The offer for `second` (with its catch-up of `first`) moves A there and stores A's change.
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(firstDoc))
    const next = switchTo(a.persistence, doc, second, first.id)
    await next.done
    await expect(a.persistence.flushed()).resolves.toBeUndefined()
    expect(await reopened(store)).toEqual({ text: '!base a', epoch: second.id })
  })

  it('STORE-3.8: a log compaction of the old epoch never lands on a snapshot another writer stored at the same clock', async () => {
    const store = new HookedStore()
    const b = await writer(store, new Compactor())
    b.doc.getText('t').insert(0, 'base')
    await b.persistence.flushed()
    // Right after B's compactor loaded the old epoch, A switches the store through that very clock.
    let record = null as EpochRecord | null
    store.afterLoad = async (stored) => {
      const other = new Y.Doc()
      applyStoredDoc(other, stored, null)
      other.getText('t').insert(0, 'new:')
      record = (await switchedElsewhere(store, other)).record
    }
    const outcome = await b.persistence.compact()
    expect(outcome).toMatchObject({ ok: false, reason: 'stale' })
    expect(await reopened(store)).toEqual({ text: 'new:base', epoch: record?.id })
  })
})

import { fromBase64, toBase64 } from 'lib0/buffer'
import * as Y from 'yjs'
import type { DocId } from '../ids.js'
import { DocPersistence } from '../storage/DocPersistence.js'
import type { DocStore } from '../storage/DocStore.js'
import { applyStoredDoc } from '../storage/applyStoredDoc.js'
import { epochArchiveId, readEpochArchive } from '../storage/epochArchive.js'
import { readEpochRecord } from '../storage/epochPersist.js'
import { decodeEpochRecord, encodeEpochRecord, type EpochRecord } from '../storage/epochRecord.js'
import { rebaseOnto } from '../storage/rebaseOnto.js'
import { EPOCH_ORIGIN } from '../sync/epochOrigin.js'
import { epochIdOf, judgeOffer } from '../sync/epochRules.js'
import { buildEpochDoc, planFollow } from '../sync/followOffer.js'
import { newWriterId, writerKey } from '../storage/writerMeta.js'
import { PENDING_META } from './pendingMeta.js'

/**
 * Meta key of the waiting-epoch entry: the record of a newer epoch a peer or the relay offered while the document was
 * open in the default (`epochs: true`) mode, taken at the next open (COMPACT-8.2). Stored under
 * {@link waitingEpochId}, beside the epoch archives (store listings skip it like them).
 */
export const WAITING_EPOCH_META_KEY = 'epoch-waiting'

/**
 * Meta key (same entry) naming an epoch whose archive holds changes of a document that stayed open in that epoch
 * after another open of the same store (a second tab, a reopen) moved the store on (COMPACT-8.4): its appends were
 * refused, so it saved its whole state into the old epoch's archive. The next open re-applies them.
 */
export const ORPHANS_META_KEY = 'epoch-orphans'

/** The store entry holding a document's waiting epoch (`"<doc>~epoch~next"`, never an epoch id). */
export const waitingEpochId = (docId: DocId): DocId => epochArchiveId(docId, 'next')

/** Stores `record` as the epoch to take at the next open (one `setMeta`: atomic). */
export const writeWaitingEpoch = (store: DocStore, docId: DocId, record: EpochRecord): Promise<void> =>
  store.setMeta(waitingEpochId(docId), WAITING_EPOCH_META_KEY, toBase64(encodeEpochRecord(record)))

/** The waiting epoch's record, or null (none, or an entry that does not decode: it is then ignored). */
export const readWaitingEpoch = async (store: DocStore, docId: DocId): Promise<EpochRecord | null> => {
  const stored = await store.load(waitingEpochId(docId))
  const encoded = stored?.meta[WAITING_EPOCH_META_KEY]
  if (encoded === undefined) return null
  try {
    const decoded = decodeEpochRecord(fromBase64(encoded))
    return decoded.ok ? decoded.record : null
  } catch {
    return null
  }
}

/** What {@link takeWaitingEpoch} did. */
export type TakeWaitingEpochResult = 'none' | 'taken' | 'stale' | 'blocked'

/**
 * Follows the waiting epoch in the store, before the document is handed out (COMPACT-8.2): loads the stored
 * document into a scratch Y.Doc, and when the waiting record is a child of the stored epoch, re-applies the stored
 * changes onto it (`planFollow`, `rebaseOnto`: the same path as a live switch) and persists the switch with
 * `DocPersistence.switchEpoch` (archive, then one atomic compaction), then removes the entry. The entry is removed
 * only after the switch is stored: a crash in between leaves either the old epoch with every change and the entry
 * (taken at the next open), or the new epoch and an entry that no longer wins (`stale`, removed then). `blocked`:
 * the stored document lacks part of the record's base; the entry stays, and the next offer replaces it.
 */
export const takeWaitingEpoch = async (
  store: DocStore,
  docId: DocId,
  options: { readonly exclusive?: boolean; readonly clientId?: () => number } = {},
): Promise<TakeWaitingEpochResult> => {
  const waiting = await readWaitingEpoch(store, docId)
  if (!waiting) return 'none'
  const scratch = new Y.Doc({ gc: false })
  const persistence = await DocPersistence.open({
    doc: scratch,
    store,
    docId,
    compactor: null,
    ...(options.exclusive !== undefined ? { exclusive: options.exclusive } : {}),
  })
  let result: TakeWaitingEpochResult = 'stale'
  let fresh: Y.Doc | null = null
  try {
    const stored = readEpochRecord(persistence.meta)
    const current = epochIdOf(stored?.ok ? stored.record : null)
    if (stored?.ok !== false && judgeOffer(waiting, current) === 'child') {
      const plan = planFollow(scratch, waiting, new Uint8Array(0), EPOCH_ORIGIN)
      if (!plan.ok) {
        result = 'blocked'
      } else {
        fresh = new Y.Doc({ gc: false })
        if (options.clientId) fresh.clientID = options.clientId()
        buildEpochDoc(fresh, waiting, plan.rebased, EPOCH_ORIGIN)
        await persistence.switchEpoch({
          record: waiting,
          doc: fresh,
          old: scratch,
          oldEpoch: current,
          archive: plan.rebased !== null,
          rebase: (old) => {
            const again = rebaseOnto(old, waiting)
            return again.ok ? again.update : null
          },
        })
        result = 'taken'
      }
    }
  } finally {
    await persistence.destroy()
    fresh?.destroy()
    scratch.destroy()
  }
  if (result !== 'blocked') await store.setMeta(waitingEpochId(docId), WAITING_EPOCH_META_KEY, null)
  return result
}

/** Marks `epoch`'s archive as holding changes to re-apply at the next open (COMPACT-8.4). */
export const writeOrphans = (store: DocStore, docId: DocId, epoch: string): Promise<void> =>
  store.setMeta(waitingEpochId(docId), ORPHANS_META_KEY, epoch)

const ORPHANS_ORIGIN = Symbol('weft:epoch-orphans')

/**
 * Re-applies what a document left in an old epoch's archive (COMPACT-8.4) onto the stored document, when the
 * archive's child is the stored epoch: one append, which also raises the stored local-change count by one (the
 * changes were never counted in the store: their appends were refused), so they are pending until the relay
 * confirms them. Then the mark is removed; a crash before re-applies them again at the next open (the same ids:
 * nothing is duplicated; the count can only be too high).
 */
export const takeOrphans = async (
  store: DocStore,
  docId: DocId,
  options: { readonly exclusive?: boolean } = {},
): Promise<boolean> => {
  const entry = await store.load(waitingEpochId(docId))
  const from = entry?.meta[ORPHANS_META_KEY]
  if (from === undefined) return false
  const archived = await readEpochArchive(store, docId, from)
  if (!archived) return false
  const scratch = new Y.Doc({ gc: false })
  // STORE-9.7: the re-applied orphans are one local change of a writer of their own (no other writer's count read).
  const orphansKey = writerKey(PENDING_META.local, newWriterId())
  const persistence = await DocPersistence.open({
    doc: scratch,
    store,
    docId,
    compactor: null,
    ...(options.exclusive !== undefined ? { exclusive: options.exclusive } : {}),
    appendMeta: (update) => (update ? { [orphansKey]: '1' } : undefined),
  })
  let done = false
  try {
    const current = readEpochRecord(persistence.meta)
    if (current?.ok && current.record.id === archived.child.id) {
      const old = new Y.Doc({ gc: false })
      applyStoredDoc(old, archived.stored, EPOCH_ORIGIN)
      const again = rebaseOnto(old, archived.child)
      old.destroy()
      if (again.ok) Y.applyUpdate(scratch, again.update, ORPHANS_ORIGIN)
      await persistence.flushed()
      done = true
    }
  } finally {
    await persistence.destroy()
    scratch.destroy()
  }
  if (done) await store.setMeta(waitingEpochId(docId), ORPHANS_META_KEY, null)
  return done
}

import type { Logger } from 'pino'
import * as Y from 'yjs'
import {
  INITIAL_EPOCH,
  countItems,
  persistEpoch,
  rebaseOnto,
  shouldStartEpoch,
  startEpoch,
  writeEpochArchive,
  type DocStore,
  type EpochRecord,
} from '@weft/core'
import type { DocEpoch } from './RelayEpochs.js'
import type { RelayDoc } from './RelayDoc.js'
import type { RelayEpochOptions } from './RelayOptions.js'

/** What a switch needs of the hub. */
export interface EpochSwitchHost {
  readonly store: DocStore
  readonly logger: Logger
  /** Resolves once every accepted update of `doc` is durable and no log compaction of it runs. */
  quiesce(doc: RelayDoc): Promise<void>
  /**
   * Appends an update to `doc`'s state and stores it; resolves once durable. With `forward`, also sends it to the
   * room (in the document's epoch).
   */
  commit(doc: RelayDoc, update: Uint8Array, forward: boolean): Promise<void>
  /** `doc` is now in a new epoch: its state is `v1`, stored as a snapshot of `snapshotBytes`. */
  replaced(doc: RelayDoc, v1: Uint8Array, snapshotBytes: number): void
  /** `doc` switched: greet its connections again (RELAY-EPOCH-4). */
  switched(doc: RelayDoc, record: EpochRecord): void
}

/** The new epoch a switch moves to: its record and its document (built from `initial`, plus re-applied changes). */
export interface PlannedEpoch {
  readonly record: EpochRecord
  readonly doc: Y.Doc
}

/** Decides the new epoch from the old epoch's document (decoded from the quiesced state); `null`: no switch. */
export type EpochPlan = (oldDoc: Y.Doc) => PlannedEpoch | null

/** The fresh document of `record`, plus `rebased` (a V1 update of re-applied changes). */
const buildEpochDoc = (record: EpochRecord, rebased: Uint8Array | null): Y.Doc => {
  const doc = new Y.Doc({ gc: false })
  Y.transact(doc, () => {
    Y.applyUpdateV2(doc, record.initial)
    if (rebased) Y.applyUpdate(doc, rebased)
  })
  return doc
}

/**
 * Follows a client's offer (RELAY-EPOCH-4): completes the old epoch with the catch-up, re-applies onto the new epoch
 * every old change the record's base lacks (`rebaseOnto`, COMPACT-5). `missing-base` (the offer's catch-up did not
 * complete the base) leaves the document as it is, waiting for a better offer.
 */
export const offerPlan =
  (record: EpochRecord, catchUp: Uint8Array, current: () => string, log: Logger): EpochPlan =>
  (oldDoc) => {
    if (record.parent !== current()) {
      log.debug('epoch offer ignored: the document moved to another epoch meanwhile')
      return null
    }
    if (catchUp.byteLength > 0) Y.applyUpdate(oldDoc, catchUp)
    // A document that holds nothing of the old epoch has nothing to re-apply.
    if (oldDoc.store.clients.size === 0) return { record, doc: buildEpochDoc(record, null) }
    const rebased = rebaseOnto(oldDoc, record)
    if (!rebased.ok) {
      log.warn({ reason: rebased.reason }, 'epoch offer not followed: the relay lacks part of its base')
      return null
    }
    return { record, doc: buildEpochDoc(record, rebased.update) }
  }

/**
 * The relay starts an epoch itself (RELAY-EPOCH-5), if the policy still says so on the quiesced state. Never from a
 * document without live content: its epoch's `initial` would be empty, so no state vector could show the epoch's
 * init writer and every stock client that edited in it would be judged pre-reset (RELAY-EPOCH-3).
 */
export const autoStartPlan =
  (st: DocEpoch, policy: NonNullable<RelayEpochOptions['autoStart']>, log: Logger): EpochPlan =>
  (oldDoc) => {
    const counts = countItems(oldDoc)
    if (counts.liveItems === 0 || !shouldStartEpoch(counts, policy)) return null
    const started = startEpoch(oldDoc, st.record ?? undefined)
    started.doc.destroy()
    log.info({ started: started.record.id }, 'starting an epoch (history reset)')
    return { record: started.record, doc: buildEpochDoc(started.record, null) }
  }

/**
 * Switches one relay document to a new epoch (RELAY-EPOCH-4). Updates that arrive meanwhile are forwarded but held
 * (not stored); then: wait until every accepted update is durable and no log compaction runs; decode the state
 * (gc off); `plan` builds the new epoch; archive the old state (`<doc>~epoch~<old>`, with the record that replaced
 * it); `persistEpoch` (one atomic store step); replace the in-memory state; re-apply the held updates onto the new
 * epoch and store them; greet the connections again. A crash before `persistEpoch` completes leaves the old epoch
 * with every acknowledged update (held ones were never acknowledged); after, the new one. If the switch does not
 * happen, the held updates are stored in the old epoch.
 */
export const runEpochSwitch = async (
  host: EpochSwitchHost,
  doc: RelayDoc,
  st: DocEpoch,
  plan: EpochPlan,
): Promise<void> => {
  st.held = []
  let oldDoc: Y.Doc | null = null
  let planned: PlannedEpoch | null = null
  let done = false
  try {
    await host.quiesce(doc)
    oldDoc = new Y.Doc({ gc: false })
    Y.applyUpdate(oldDoc, doc.log.state())
    const fromEpoch = st.record?.id ?? INITIAL_EPOCH
    planned = plan(oldDoc)
    if (!planned) return
    const { record, doc: next } = planned
    const lastClock = doc.lastClock
    // V2: the old epoch is mostly deleted items, which V2 run-length encodes (COMPACT-6.2b).
    const oldState = Y.encodeStateAsUpdateV2(oldDoc)
    // The archive first: once the switch is stored, peers of the old epoch are served from it (RELAY-EPOCH-3).
    await writeEpochArchive(host.store, doc.docId, fromEpoch, oldState, record, { format: 'v2' })
    const result = await persistEpoch(host.store, doc.docId, record, next, lastClock)
    if (!result.ok) return void host.logger.warn({ doc: doc.docId }, 'epoch switch was stale; not switched')
    done = true
    // Synchronous from here on: nothing can be accepted between the switch and the greeting.
    st.record = record
    st.archives.set(fromEpoch, Promise.resolve({ epoch: fromEpoch, child: record, stateV2: oldState }))
    host.replaced(doc, Y.encodeStateAsUpdate(next), Y.encodeStateAsUpdateV2(next).byteLength)
    const late = st.held
    st.held = null
    if (late.length > 0) storeLate(host, doc, oldDoc, next, record, late)
    host.logger.info({ doc: doc.docId, from: fromEpoch, epoch: record.id }, 'switched epoch')
    host.switched(doc, record)
  } finally {
    oldDoc?.destroy()
    planned?.doc.destroy()
    const held = st.held ?? []
    st.held = null
    // No switch: the held updates are stored in the old epoch, and forwarded again for connections that joined
    // meanwhile (their step 2 came from the state without them; the others ignore what they already hold).
    if (!done) for (const h of held) host.commit(doc, h.update, true).then(h.resolve, h.reject)
  }
}

/** Updates held during the switch, old-epoch changes: re-applied onto the new epoch and stored there. */
const storeLate = (
  host: EpochSwitchHost,
  doc: RelayDoc,
  oldDoc: Y.Doc,
  next: Y.Doc,
  record: EpochRecord,
  late: readonly { update: Uint8Array; resolve(): void; reject(err: unknown): void }[],
): void => {
  for (const h of late) Y.applyUpdate(oldDoc, h.update)
  const integrated = oldDoc.store.pendingStructs === null && oldDoc.store.pendingDs === null
  const rebased = rebaseOnto(oldDoc, record)
  if (!integrated || !rebased.ok) {
    // Not re-applied (missing dependencies, or the old view lacks the base): never acknowledged as stored. The
    // senders keep them pending and bring them again from the new epoch, re-applied (RELAY-EPOCH-4).
    const err = new Error('held update could not be re-applied onto the new epoch')
    host.logger.warn({ doc: doc.docId, held: late.length }, err.message)
    for (const h of late) h.reject(err)
    return
  }
  const changes: Uint8Array[] = []
  const capture = (update: Uint8Array) => changes.push(update)
  next.on('update', capture)
  Y.applyUpdate(next, rebased.update)
  next.off('update', capture)
  // Not forwarded: every connection is greeted again right after and syncs the new state. Updates the new epoch
  // already held (changes empty) are stored there already.
  const durable = changes.length > 0 ? host.commit(doc, Y.mergeUpdates(changes), false) : Promise.resolve()
  for (const h of late) durable.then(h.resolve, h.reject)
}

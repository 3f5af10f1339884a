import * as Y from 'yjs'
import type { EpochRecord } from '../storage/epochRecord.js'
import { rebaseOnto } from '../storage/rebaseOnto.js'

/** What following an offered epoch from a document of its parent epoch gives (see {@link planFollow}). */
export type FollowPlan =
  | {
      readonly ok: true
      /** The changes to re-apply onto the new epoch (a V1 update), or `null`: the document held nothing of the old one. */
      readonly rebased: Uint8Array | null
    }
  | {
      readonly ok: false
      /** The document lacks part of the record's base, even with the catch-up (COMPACT-5.1). */
      readonly reason: 'missing-base'
    }

/**
 * Follows an offered epoch `record` from `source`, a document of `record.parent` (docs/spec/compaction.md): the offer's
 * old-epoch `catchUp` is applied to `source` first (COMPACT-5.1: it is the same epoch, so this is safe), then what
 * `source` holds beyond the record's base is re-applied onto the new epoch (`rebaseOnto`, COMPACT-5.2); a document
 * that holds nothing of the old epoch has nothing to re-apply. The one decision behind both a client's switch
 * (`EpochManager`) and the relay's (RELAY-EPOCH-4).
 */
export const planFollow = (
  source: Y.Doc,
  record: EpochRecord,
  catchUp: Uint8Array,
  origin: unknown = null,
): FollowPlan => {
  if (catchUp.byteLength > 0) Y.applyUpdate(source, catchUp, origin)
  if (source.store.clients.size === 0) return { ok: true, rebased: null }
  const rebased = rebaseOnto(source, record)
  return rebased.ok ? { ok: true, rebased: rebased.update } : rebased
}

/** Fills `doc` (a fresh document) with the new epoch: the record's initial state, then `rebased`, in one transaction. */
export const buildEpochDoc = (
  doc: Y.Doc,
  record: EpochRecord,
  rebased: Uint8Array | null,
  origin: unknown = null,
): Y.Doc => {
  Y.transact(
    doc,
    () => {
      Y.applyUpdateV2(doc, record.initial, origin)
      if (rebased) Y.applyUpdate(doc, rebased, origin)
    },
    origin,
  )
  return doc
}

import * as Y from 'yjs'
import { type EpochPolicy, type EpochRecord } from '@weft/core'
import {
  countItems,
  decodeEpochRecord,
  encodeEpochRecord,
  rebaseOnto,
  shouldStartEpoch,
  startEpoch,
  type ItemCounts,
} from '@weft/core/epochs'
import { buildEpochDoc, planFollow } from '@weft/core/sync-engine'
import { collectGarbage, mergeUpdatesBatched } from './mergeUpdatesBatched.js'

/**
 * The relay's heavy compaction work as plain functions of bytes (RELAY-3.8): what runs in the compaction worker
 * thread (`compactionWorkerMain.ts`), or inline for small documents. Nothing here touches the relay's state: inputs
 * and outputs are encoded updates, so they cross a thread boundary as transferred buffers.
 */

/** Outcome of {@link collectWithCounts}. */
export interface Collected {
  /** The state rebuilt through a garbage-collecting Y.Doc, V1 (the relay's in-memory log). */
  readonly v1: Uint8Array
  /** The same, V2 (the snapshot to store, STORE-3.6). */
  readonly v2: Uint8Array
  /** Live and deleted items of the state (COMPACT-2.1): the epoch policy is checked on them, no second decode. */
  readonly counts: ItemCounts
}

/**
 * Merges `parts` (V1) and rebuilds the result through a garbage-collecting `Y.Doc` (RELAY-3.6), counting its items
 * on the way. A state with nothing deleted is only converted (a rebuild would drop nothing); its counts are zero
 * (no epoch policy starts on a state without deleted items).
 */
export const collectWithCounts = (parts: readonly Uint8Array[]): Collected => {
  const { v1, v2, counts } = collectGarbage(mergeUpdatesBatched(parts), true)
  return { v1, v2, counts: counts ?? { liveItems: 0, deletedItems: 0 } }
}

/** How a switch picks its new epoch (RELAY-EPOCH-4, RELAY-EPOCH-5). */
export type SwitchPlan =
  /** The relay starts an epoch (authority), if the policy still says so on the quiesced state. */
  | {
      readonly kind: 'auto'
      /** The document's current record, encoded (`null` in epoch "0"). */
      readonly parent: Uint8Array | null
      readonly policy: Partial<EpochPolicy>
    }
  /** A client's winning offer: its record (encoded) and old-epoch catch-up. */
  | { readonly kind: 'offer'; readonly record: Uint8Array; readonly catchUp: Uint8Array }

/** Outcome of {@link SwitchTasks.start}. */
export type SwitchStart =
  | {
      readonly ok: true
      /** The new epoch's record, encoded. */
      readonly record: Uint8Array
      /** The new epoch's state (`initial` plus re-applied changes), V1 and V2. */
      readonly nextV1: Uint8Array
      readonly nextV2: Uint8Array
      /** The old epoch's last state, V2 from a garbage-collecting document: the archive (COMPACT-6.2b). */
      readonly archiveV2: Uint8Array
    }
  | { readonly ok: false; readonly reason: 'policy' | 'no-live-content' | 'missing-base' | 'bad-record' }

/** Outcome of {@link SwitchTasks.late}. */
export type SwitchLate =
  | {
      readonly ok: true
      /** What the updates changed in the new epoch, one V1 update (`null`: it held them already). */
      readonly changes: Uint8Array | null
    }
  | { readonly ok: false }

interface Session {
  readonly old: Y.Doc
  readonly next: Y.Doc
  readonly record: EpochRecord
}

/**
 * Epoch switches (RELAY-EPOCH-4) computed from bytes: `start` decodes the quiesced state once (the policy is
 * re-checked and the epoch built from that one decode), `late` re-applies updates that arrived meanwhile onto the
 * new epoch, `end` frees the documents. Sessions are keyed by an id the caller picks.
 */
export class SwitchTasks {
  readonly #sessions = new Map<number, Session>()

  start(id: number, parts: readonly Uint8Array[], plan: SwitchPlan): SwitchStart {
    this.end(id)
    const old = new Y.Doc({ gc: true })
    let next: Y.Doc | null = null
    try {
      Y.applyUpdate(old, mergeUpdatesBatched(parts))
      let record: EpochRecord
      if (plan.kind === 'auto') {
        const counts = countItems(old)
        if (counts.liveItems === 0) return { ok: false, reason: 'no-live-content' }
        if (!shouldStartEpoch(counts, plan.policy)) return { ok: false, reason: 'policy' }
        const parent = plan.parent ? decodeEpochRecord(plan.parent) : null
        if (parent && !parent.ok) return { ok: false, reason: 'bad-record' }
        const started = startEpoch(old, parent?.record)
        started.doc.destroy()
        record = started.record
        next = buildEpochDoc(new Y.Doc({ gc: true }), record, null)
      } else {
        const decoded = decodeEpochRecord(plan.record)
        if (!decoded.ok) return { ok: false, reason: 'bad-record' }
        record = decoded.record
        // COMPACT-5.1, 5.2: the same decision as a client's (core's planFollow).
        const follow = planFollow(old, record, plan.catchUp)
        if (!follow.ok) return { ok: false, reason: follow.reason }
        next = buildEpochDoc(new Y.Doc({ gc: true }), record, follow.rebased)
      }
      const nextV2 = Y.encodeStateAsUpdateV2(next)
      const result: SwitchStart = {
        ok: true,
        record: encodeEpochRecord(record),
        nextV1: Y.convertUpdateFormatV2ToV1(nextV2),
        nextV2,
        archiveV2: Y.encodeStateAsUpdateV2(old),
      }
      this.#sessions.set(id, { old, next, record })
      return result
    } finally {
      if (!this.#sessions.has(id)) {
        old.destroy()
        next?.destroy()
      }
    }
  }

  /**
   * Updates held during the switch (old-epoch changes): applied to the old document and re-applied onto the new
   * epoch (`rebaseOnto`); `ok: false` when they cannot be (missing dependencies, or the old view lacks the base).
   * What they change in the new epoch is returned as one diff against its state, not update by update.
   */
  late(id: number, updates: readonly Uint8Array[]): SwitchLate {
    const session = this.#sessions.get(id)
    if (!session) return { ok: false }
    const { old, next, record } = session
    Y.transact(old, () => {
      for (const update of updates) Y.applyUpdate(old, update)
    })
    if (old.store.pendingStructs !== null || old.store.pendingDs !== null) return { ok: false }
    const rebased = rebaseOnto(old, record)
    if (!rebased.ok) return { ok: false }
    const before = Y.encodeStateVector(next)
    let changed = false
    const capture = () => {
      changed = true
    }
    next.on('update', capture)
    Y.applyUpdate(next, rebased.update)
    next.off('update', capture)
    return { ok: true, changes: changed ? Y.encodeStateAsUpdate(next, before) : null }
  }

  end(id: number): void {
    const session = this.#sessions.get(id)
    if (!session) return
    this.#sessions.delete(id)
    session.old.destroy()
    session.next.destroy()
  }
}

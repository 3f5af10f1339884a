import { WeftError, type DocId } from '@weft/core'
import { epochMismatchError } from '@weft/core/store-kit'
import type { PendingAppend } from '@weft/core/store-kit'
import { CLOCKS, META, SNAPSHOTS, transactionDone, UPDATES } from './idb.js'
import { readEpoch, readLastClock, toClock } from './readRows.js'
import { advanceWorkspaces, workspaceScope } from './workspaceRows.js'
import { storedMetaValue } from './metaValues.js'

/**
 * Outcome of one batch: per append its clock or the error that refused it, and each document's last clock after
 * the commit; or `conflict`: the expected clocks (or epochs) were not the stored ones (another tab wrote, removed
 * or switched the document), the transaction was aborted and nothing was written.
 */
export type BatchOutcome =
  | {
      readonly ok: true
      readonly clocks: readonly (number | WeftError)[]
      readonly last: ReadonlyMap<DocId, number>
    }
  | { readonly ok: false; readonly reason: 'conflict' }

const CONFLICT = { ok: false, reason: 'conflict' } as const

/**
 * Writes `batch` (in call order) in one readwrite transaction and resolves once it committed (STORE-2.4).
 *
 * With `expected` (each document's last clock as this store last saw it), nothing is read before writing: the
 * updates are added at the next clocks, the `clocks` rows and meta are put, and the same transaction reads the
 * `clocks` rows (and the epochs of checked appends) first; when one differs from what was expected, the
 * transaction is aborted before it commits (`conflict`). IndexedDB runs the requests of a transaction in order and
 * commits only after their results were delivered, so this costs no round trip before the writes.
 *
 * Without `expected`, the clocks and epochs are read first and the writes issued once they are known: the path for
 * a document this store has not seen yet or after a conflict. Refused appends (STORE-2.5) are decided there.
 * Throws synchronously when the transaction cannot be created.
 */
export const writeAppends = (
  db: IDBDatabase,
  batch: readonly PendingAppend[],
  expected: ReadonlyMap<DocId, number> | null,
  durability: 'strict' | 'relaxed',
): Promise<BatchOutcome> => {
  const withMeta = batch.some((p) => p.epoch !== undefined || p.meta !== undefined)
  const docs = [...new Set(batch.map((p) => p.docId))]
  const scope = [
    UPDATES,
    CLOCKS,
    ...(withMeta ? [META] : []),
    ...(expected ? [] : [SNAPSHOTS]),
    ...workspaceScope(docs),
  ]
  const tx = db.transaction(scope, 'readwrite', { durability })
  const checked = new Set(batch.filter((p) => p.epoch !== undefined).map((p) => p.docId))
  const next = new Map<DocId, number>()
  const clocks: (number | WeftError)[] = []

  /** Every clock (and checked epoch) is known: the writes, in call order. */
  const write = (epochs: ReadonlyMap<DocId, string | WeftError>): void => {
    const updates = tx.objectStore(UPDATES)
    const written = new Set<DocId>()
    // Meta entries of the accepted appends, the last value per key (a burst writes its count once).
    const entries = new Map<string, { docId: DocId; key: string; value: string | null }>()
    for (const p of batch) {
      const stored = p.epoch === undefined ? undefined : epochs.get(p.docId)
      if (stored instanceof WeftError) clocks.push(stored)
      else if (stored !== undefined && stored !== p.epoch)
        clocks.push(epochMismatchError('IndexedDbDocStore', p.docId, stored, p.epoch ?? ''))
      else {
        const clock = (next.get(p.docId) ?? 0) + 1
        next.set(p.docId, clock)
        written.add(p.docId)
        clocks.push(clock)
        // `add`, not `put`: a key another writer used makes the transaction fail instead of overwriting it.
        updates.add(p.bytes, [p.docId, clock])
        for (const [key, value] of Object.entries(p.meta ?? {}))
          entries.set(JSON.stringify([p.docId, key]), { docId: p.docId, key, value })
      }
    }
    for (const { docId, key, value } of entries.values()) {
      if (value === null) tx.objectStore(META).delete([docId, key])
      else tx.objectStore(META).put(storedMetaValue(key, value), [docId, key])
    }
    for (const docId of written) tx.objectStore(CLOCKS).put(next.get(docId), docId)
    // WS-STORE-2.1, 2.3: one seq per document of this transaction.
    advanceWorkspaces(tx, written)
  }

  let conflict = false
  const abort = (): void => {
    if (conflict) return
    conflict = true
    tx.abort()
  }
  if (expected) {
    for (const docId of docs) {
      const want = expected.get(docId) ?? 0
      next.set(docId, want)
      const counter = tx.objectStore(CLOCKS).get(docId)
      counter.onsuccess = () => {
        // An absent row is a document nobody wrote since it was removed (or created): last clock 0.
        if ((counter.result === undefined ? 0 : toClock(counter.result)) !== want) abort()
      }
      if (checked.has(docId))
        readEpoch(tx, docId, (epoch) => {
          if (batch.some((p) => p.docId === docId && p.epoch !== undefined && p.epoch !== epoch)) abort()
        })
    }
    write(new Map())
  } else {
    const epochs = new Map<DocId, string | WeftError>()
    let waiting = docs.length + checked.size
    const known = (): void => {
      if (--waiting === 0) write(epochs)
    }
    for (const docId of docs) {
      readLastClock(tx, docId, (last) => {
        next.set(docId, last)
        known()
      })
      if (checked.has(docId))
        readEpoch(tx, docId, (epoch) => {
          epochs.set(docId, epoch)
          known()
        })
    }
  }
  return transactionDone(tx).then(
    (): BatchOutcome => ({ ok: true, clocks, last: next }),
    (err: unknown) => {
      if (conflict) return CONFLICT
      throw err
    },
  )
}

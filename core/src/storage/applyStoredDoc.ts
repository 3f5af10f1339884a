import * as Y from 'yjs'
import { toWeftError, WeftErrorCode } from '../WeftError.js'
import type { StoredDoc } from './DocStore.js'

/**
 * Applies a stored document (V2 snapshot, then the V1 tail in order) to `doc` inside one transaction with the given
 * origin (STORE-7.1). Each update is applied to the document in turn: unlike one `Y.mergeUpdates` over the whole
 * tail, this stays linear in the tail's size. Throws a `store-corrupted` WeftError when Yjs cannot decode the data;
 * the document may then hold part of the stored state.
 *
 * `ignoring`: `update` listeners known to ignore this origin. When they are the document's only ones, they are
 * detached while applying and attached again after, in their order: Yjs then skips encoding the applied state as
 * an `update` event that nobody would read (a quarter of a large document's load).
 */
export const applyStoredDoc = (
  doc: Y.Doc,
  stored: StoredDoc,
  origin: unknown,
  ignoring: ReadonlySet<unknown> = new Set(),
): void => {
  const listeners = [...((doc._observers.get('update') as Set<never> | undefined) ?? [])]
  const quiet = listeners.length > 0 && listeners.every((l) => ignoring.has(l))
  if (quiet) for (const l of listeners) doc.off('update', l)
  let index = -1
  try {
    Y.transact(
      doc,
      () => {
        if (stored.snapshot) Y.applyUpdateV2(doc, stored.snapshot, origin)
        for (index = 0; index < stored.updates.length; index++) {
          Y.applyUpdate(doc, stored.updates[index] as Uint8Array, origin)
        }
      },
      origin,
    )
  } catch (err) {
    const where = index < 0 ? 'the snapshot' : `stored update ${index}`
    throw toWeftError(WeftErrorCode.StoreCorrupted, err, `cannot decode ${where}`)
  } finally {
    if (quiet) for (const l of listeners) doc.on('update', l)
  }
}

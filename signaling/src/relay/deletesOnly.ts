import * as Y from 'yjs'
import { deletionsOnly } from '@weft/core/protocol'
import type { HeldState } from './changesNothing.js'

/**
 * RELAY-9.6: whether `update` (V1) only deletes what `log` holds: no struct, and every deletion within the log's
 * state (items the document has). Such an update makes the document smaller once compacted (Yjs keeps only the
 * length of deleted content), so the size limit (RELAY-9.4) never refuses it: whoever may write a document at its
 * limit can always clean it up. A deletion past the log's state would stay pending and grow it, so it does not count.
 * An update with a struct is not decoded (its first byte is not 0).
 */
export const deletesOnly = (log: HeldState, update: Uint8Array): boolean => {
  const ds = deletionsOnly(update)
  if (ds === null) return false
  let held: Map<number, number>
  try {
    held = Y.decodeStateVector(log.stateVector())
  } catch {
    return false
  }
  for (const [client, ranges] of ds) {
    const state = held.get(client) ?? 0
    for (const [, to] of ranges) if (to > state) return false
  }
  return true
}

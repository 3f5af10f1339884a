import * as Y from 'yjs'
import { MAX_NESTING_DEPTH, validateUpdate } from '@weft/core/protocol'
import type { RelayRoom } from './RelayRoom.js'

/**
 * RELAY-9.5: keeps a document's nesting of shared types within {@link MAX_NESTING_DEPTH} across updates, which
 * `validateUpdate` checks only within one (25 updates of 900 nested maps each, every one hung under the previous,
 * nest 22,500 deep). `depth` is what the update builds by itself; hung under an existing type it adds to that
 * type's depth, which the relay does not track per type. So the document keeps an upper bound
 * ({@link RelayRoom.nestingBound}) that grows by each update's depth; only when the bound would pass the limit is the
 * exact depth computed, from the whole state with the update merged in (then the bound is exact again). A document
 * whose types nest a few levels pays that walk once per about a thousand nested inserts. Throws when the update
 * would make the document nest deeper than allowed: nothing is changed then.
 */
export const checkNesting = (doc: RelayRoom, update: Uint8Array, depth: number): void => {
  if (depth === 0) return
  if (doc.nestingBound + depth <= MAX_NESTING_DEPTH) {
    doc.nestedBy(depth)
    return
  }
  const whole = Y.mergeUpdates([doc.log.state(), update])
  doc.nestingMeasured(validateUpdate(whole).depth)
}

import * as random from 'lib0/random'
import type * as Y from 'yjs'

/**
 * A new Yjs client id for `doc`: never `avoid`, never an id `doc` holds items of; drawn uniformly, or above `floor`
 * when one is given (RULES-5.2: re-created items must sort to the right of refused ones with the same origin).
 * Above a floor too close to 2^32 to leave room, it is drawn uniformly.
 */
export const drawClientId = (doc: Y.Doc, avoid: number, floor: number | null = null): number => {
  const draw =
    floor !== null && floor < 0xfffffff0
      ? () => floor + 1 + Math.floor(random.rand() * (0xffffffff - floor))
      : () => random.uint32()
  let id = draw()
  while (id === avoid || doc.store.clients.has(id)) id = draw()
  return id
}

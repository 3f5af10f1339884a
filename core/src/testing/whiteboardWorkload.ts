import * as Y from 'yjs'

/** The shapes map of a {@link draggedWhiteboard}: one `Y.Map` per shape (`kind`, `x`, `y`). */
export type WhiteboardShapes = Y.Map<Y.Map<number | string>>

/**
 * The whiteboard workload of the storage, compaction and epoch tests and benchmarks. `shapes` rectangles (a `Y.Map`
 * each, in the root map `shapes`) are created in one transaction, then each is dragged `moves` times, one
 * transaction per drag. The overwrites leave far more deleted items than live ones, which is the history that
 * compaction and epochs exist to drop. Built into `doc` (a new `Y.Doc` by default), so a caller can listen to its
 * updates first.
 */
export const draggedWhiteboard = (shapes: number, moves: number, doc: Y.Doc = new Y.Doc()): Y.Doc => {
  const board: WhiteboardShapes = doc.getMap('shapes')
  doc.transact(() => {
    for (let i = 0; i < shapes; i++) {
      const shape = new Y.Map<number | string>()
      board.set(`shape-${i}`, shape)
      shape.set('kind', 'rect')
      shape.set('x', 0)
      shape.set('y', 0)
    }
  })
  for (let round = 1; round <= moves; round++) {
    for (let i = 0; i < shapes; i++) {
      const shape = board.get(`shape-${i}`)
      doc.transact(() => {
        shape?.set('x', (round * 7 + i) % 1920)
        shape?.set('y', (round * 13 + i) % 1080)
      })
    }
  }
  return doc
}

/** The same whiteboard content in a new document, without history: what a {@link draggedWhiteboard} is compared to. */
export const freshWhiteboardCopy = (doc: Y.Doc): Y.Doc => {
  const fresh = new Y.Doc()
  const target: WhiteboardShapes = fresh.getMap('shapes')
  fresh.transact(() => {
    ;(doc.getMap('shapes') as WhiteboardShapes).forEach((shape, key) => {
      const copy = new Y.Map<number | string>()
      target.set(key, copy)
      shape.forEach((value, field) => copy.set(field, value))
    })
  })
  return fresh
}

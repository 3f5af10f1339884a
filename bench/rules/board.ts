/**
 * Whiteboard documents of the rules benchmark, written through the demo's schema (demo/src/board/boardSchema.ts,
 * version 1) as the demo's page writes them, so that the demo's rules (demo/src/board/boardRules.ts) check real shapes.
 */
import * as Y from 'yjs'
import { openTyped } from '@weft/core'
import { demoSchemaV1, SHAPE_KINDS } from '../../demo/src/board/boardSchema.js'

const typed = new WeakMap<Y.Doc, ReturnType<typeof openTyped<typeof demoSchemaV1>>>()

/** The demo document's typed view (schema v1), one per document. */
export const typedBoard = (doc: Y.Doc) => {
  let t = typed.get(doc)
  if (!t) typed.set(doc, (t = openTyped(doc, demoSchemaV1)))
  return t
}

/** The colours shapes are recoloured with. */
export const COLOURS = ['#ffd54f', '#ef9a9a', '#90caf9', '#a5d6a7', '#ce93d8'] as const

/** Inserts shape `id` at (x, y) into `doc`; `lockedBy` a user's subject locks it (the demo's rule). */
export const insertShape = (doc: Y.Doc, id: string, x: number, y: number, lockedBy = ''): void => {
  const result = typedBoard(doc).root.shapes.insert(
    {
      kind: SHAPE_KINDS[(x + y) % SHAPE_KINDS.length] ?? 'rect',
      x,
      y,
      w: 120,
      h: 80,
      color: COLOURS[x % COLOURS.length] ?? '#ffd54f',
      text: '',
      points: [],
      lockedBy,
      lockedByName: lockedBy === '' ? '' : 'Ada',
    },
    { id },
  )
  if (!result.ok) throw new Error(`shape ${id} refused by the schema: ${JSON.stringify(result)}`)
}

/** The subject that locked the {@link LOCKED} shape of a {@link boardUpdate} board (nobody in the benchmark). */
export const LOCKED_BY = 'ada'
/** The id of the shape of a {@link boardUpdate} board locked by {@link LOCKED_BY}. */
export const LOCKED = 'locked'

/**
 * A board of `shapes` unlocked shapes (`s0`, `s1`, ...) plus one shape locked by {@link LOCKED_BY} ({@link LOCKED}),
 * as one Yjs update (written directly into a relay's store, the way a board made by its users would be there).
 */
export const boardUpdate = (shapes: number): Uint8Array => {
  const doc = new Y.Doc()
  typedBoard(doc).root.meta.update({ title: 'bench' })
  doc.transact(() => {
    for (let i = 0; i < shapes; i++) insertShape(doc, `s${i}`, (i * 37) % 4000, (i * 53) % 3000)
    insertShape(doc, LOCKED, 10, 10, LOCKED_BY)
  })
  const update = Y.encodeStateAsUpdate(doc)
  doc.destroy()
  return update
}

/** Whether every doc of `docs` holds the same changes (the same state vector). */
export const sameState = (docs: readonly Y.Doc[]): boolean => {
  const [first, ...rest] = docs.map((d) => Y.decodeStateVector(Y.encodeStateVector(d)))
  if (!first) return true
  return rest.every((sv) => sv.size === first.size && [...first].every(([c, k]) => sv.get(c) === k))
}

/** Resolves once `pred()` holds, re-checked at every update of any of `docs`. */
export const untilDocs = (docs: readonly Y.Doc[], pred: () => boolean, timeoutMs = 120_000): Promise<void> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off()
      reject(new Error(`not reached in ${timeoutMs} ms`))
    }, timeoutMs)
    const check = () => {
      if (!pred()) return
      off()
      clearTimeout(timer)
      resolve()
    }
    const off = () => docs.forEach((d) => d.off('update', check))
    docs.forEach((d) => d.on('update', check))
    check()
  })

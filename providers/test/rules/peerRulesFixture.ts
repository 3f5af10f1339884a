/**
 * Shared pieces of the cross-transport peer-rules tests (RULES-6): a board whose shapes a user can lock (the demo's
 * rule), a seed every peer starts from, a move made with plain Yjs (what a malicious peer does), and waits on events.
 */
import * as Y from 'yjs'
import { defineSchema, openTyped, s, type SyncSession } from '@weft/core'
import { defineRules, type PermissionRule, type PlainRecord } from '@weft/core/rules'

export const board = defineSchema({
  name: 'board',
  version: 1,
  root: { shapes: s.collection({ x: s.number(), lockedBy: s.string() }) },
})

const lockedAgainst = (record: PlainRecord | undefined, subject: string | undefined): string | null => {
  const by = record?.['lockedBy']
  return typeof by !== 'string' || by === '' || by === subject ? null : `locked by ${by}`
}

const update: PermissionRule = ({ before, subject }) => lockedAgainst(before, subject) ?? true

/** A locked shape is changed or deleted only by whoever locked it (peers are anonymous: by nobody over a peer path). */
export const lockRules = defineRules(board, {
  collections: {
    shapes: { update, delete: ({ before, subject }) => lockedAgainst(before, subject) ?? true },
  },
})

/**
 * One update holding shape `a` locked by alice and shape `b` free, both at x = 10. Every peer of a test starts from
 * the same seed (two seeds would hold two concurrent shapes `a`, of which a peer sees the one Yjs lets win).
 */
export const seedBoard = (): Uint8Array => {
  const doc = new Y.Doc()
  const { root } = openTyped(doc, board)
  root.shapes.insert({ x: 10, lockedBy: 'alice' }, { id: 'a' })
  root.shapes.insert({ x: 10, lockedBy: '' }, { id: 'b' })
  return Y.encodeStateAsUpdate(doc)
}

/** The seed of this module's tests. */
export const SEED = seedBoard()

/** A new document holding `seed`. */
export const seeded = (seed: Uint8Array = SEED): Y.Doc => {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, seed)
  return doc
}

/** Moves shape `id` with plain Yjs, around the schema and any check. */
export const rawMove = (doc: Y.Doc, id: string, x: number): void => {
  ;(doc.getMap('shapes').get(id) as Y.Map<unknown>).set('x', x)
}

/** Shape `id`'s x in `doc`. */
export const xOf = (doc: Y.Doc, id: string): unknown =>
  (doc.getMap('shapes').get(id) as Y.Map<unknown>).get('x')

/** The shapes of `doc` as plain objects. */
export const shapesOf = (doc: Y.Doc): unknown => doc.getMap('shapes').toJSON()

/** Resolves once shape `id` of `doc` is at `x` (at once if it is). */
export const xBecomes = (doc: Y.Doc, id: string, x: number): Promise<void> =>
  new Promise((resolve) => {
    const check = () => {
      if (xOf(doc, id) !== x) return
      doc.off('update', check)
      resolve()
    }
    doc.on('update', check)
    check()
  })

/** Resolves once `session` has `paths` open paths, every one synced. */
export const meshed = (session: SyncSession, paths: number): Promise<void> =>
  new Promise((resolve) => {
    const check = () => {
      if (session.paths.length !== paths || !session.synced) return
      session.off('peer-synced', check)
      resolve()
    }
    session.on('peer-synced', check)
    check()
  })

/**
 * Shared pieces of the cross-transport peer-rules tests (RULES-6): a board whose shapes a user can lock (the demo's
 * rule), a seed every peer starts from, a move made with plain Yjs (what a malicious peer does), and waits on events.
 */
import type * as Y from 'yjs'
import type { SyncSession } from '@weft/core'
import { defineRules, type PermissionRule } from '@weft/core/rules'
import {
  board,
  lockedAgainst,
  seedBoard,
  seeded as seededWith,
} from '../../../core/test/sync/peerRulesFixture.js'

export { shapesOf } from '../../../core/test/sync/peerRulesFixture.js'

const update: PermissionRule = ({ before, subject }) => lockedAgainst(before, subject) ?? true

/** A locked shape is changed or deleted only by whoever locked it (peers are anonymous: by nobody over a peer path). */
export const lockRules = defineRules(board, {
  collections: {
    shapes: { update, delete: ({ before, subject }) => lockedAgainst(before, subject) ?? true },
  },
})

/**
 * The seed of this module's tests: one update holding shape `a` locked by alice and shape `b` free, both at x = 10.
 * Every peer of a test starts from the same seed (two seeds would hold two concurrent shapes `a`, of which a peer
 * sees the one Yjs lets win).
 */
export const SEED = seedBoard({ a: 'alice' }, ['b'])

/** A new document holding `seed`. */
export const seeded = (seed: Uint8Array = SEED): Y.Doc => seededWith(seed)

/** Moves shape `id` with plain Yjs, around the schema and any check. */
export const rawMove = (doc: Y.Doc, id: string, x: number): void => {
  ;(doc.getMap('shapes').get(id) as Y.Map<unknown>).set('x', x)
}

/** Shape `id`'s x in `doc`. */
export const xOf = (doc: Y.Doc, id: string): unknown =>
  (doc.getMap('shapes').get(id) as Y.Map<unknown>).get('x')

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

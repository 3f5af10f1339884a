/** Shared fixtures of the peer-rules tests (RULES-6): a board with the demo-like lock rule, peers that check it. */
import * as Y from 'yjs'
import { defineSchema, openTyped, s, type PeerId, type Transport } from '../../src/index.js'
import { defineRules, type PermissionRule, type PlainRecord, type Rules } from '../../src/schema/rules.js'
import type { SessionRules } from '../../src/index.js'

export const board = defineSchema({
  name: 'board',
  version: 1,
  root: { shapes: s.collection({ x: s.number(), lockedBy: s.string() }) },
})

/** Why `subject` may not change `record` (locked by someone else), or null when it may. */
export const lockedAgainst = (
  record: PlainRecord | undefined,
  subject: string | undefined,
): string | null => {
  const by = record?.['lockedBy']
  return typeof by !== 'string' || by === '' || by === subject ? null : `locked by ${by}`
}

const update: PermissionRule = ({ before, after, subject }) => {
  const locked = lockedAgainst(before, subject)
  if (locked !== null) return locked
  const from = before?.['lockedBy']
  const to = after?.['lockedBy']
  if (from === to) return true
  if (subject !== undefined && ((from === '' && to === subject) || (from === subject && to === '')))
    return true
  return 'locked by the writer alone, unlocked only by the one who locked it'
}

/** The demo's rule: a locked shape is changed or deleted only by whoever locked it. */
export const lockRules: Rules = defineRules(board, {
  collections: {
    shapes: {
      create: ({ after, subject }) => after?.['lockedBy'] === '' || after?.['lockedBy'] === subject,
      update,
      delete: ({ before, subject }) => lockedAgainst(before, subject) ?? true,
    },
  },
})

/** The shapes of `doc` as plain objects. */
export const shapesOf = (doc: Y.Doc): Record<string, { x: number; lockedBy: string }> =>
  doc.getMap('shapes').toJSON() as Record<string, { x: number; lockedBy: string }>

/**
 * The state every peer starts from: shapes `locked` (id → who locked it) and `free` (unlocked), at x = 10. One
 * update, applied to each peer's document before its session starts.
 */
export const seedBoard = (locked: Record<string, string>, free: readonly string[] = []): Uint8Array => {
  const doc = new Y.Doc()
  const { root } = openTyped(doc, board)
  for (const [id, by] of Object.entries(locked)) root.shapes.insert({ x: 10, lockedBy: by }, { id })
  for (const id of free) root.shapes.insert({ x: 10, lockedBy: '' }, { id })
  return Y.encodeStateAsUpdate(doc)
}

/** A document holding `seed`. */
export const seeded = (seed: Uint8Array): Y.Doc => {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, seed)
  return doc
}

/**
 * Peer rules where the writer on a path is the peer the test network linked (`TestNet` names a transport
 * `<me>-><them>`): an app that trusts its peers' claimed identities.
 */
export const namedPeers = (rules: Rules = lockRules): SessionRules => ({
  rules,
  peerWriter: (transport: Transport, _peer: PeerId) => ({
    subject: (transport as Transport & { name: string }).name.split('->')[1],
    claims: {},
  }),
})

/**
 * The demo's rule (docs/guides/rules.md, "The demo's rule"): a locked shape may be moved, resized, recoloured,
 * edited or deleted only by the user who locked it, and only they unlock it. `weft serve` loads this module through
 * demo/scripts/rules.mjs (`npm start` passes `--rules`), and the page checks its own writes with the same rules
 * before making them ({@link checkShapeWrites}), so an honest user is told at once and nothing is sent.
 */
import type * as Y from 'yjs'
import {
  checkChanges,
  defineRules,
  readRuleCollection,
  readRuleRecord,
  type PermissionRule,
  type PlainRecord,
  type RecordChange,
  type RulesVerdict,
  type Writer,
} from '@weft/core/rules'
import { CATALOGUE_DOC, defineSchema, s } from '../schemaApi.js'
import { demoSchemaV1, demoSchemaV2 } from './boardSchema.js'

/** The notice for a write to a shape someone else locked: `Locked by <name>: not allowed`. */
export const lockedMessage = (name: string): string => `Locked by ${name || 'someone'}: not allowed`

/** Why `subject` may not change `record`: it is locked by someone else. `null` when it may. */
const lockedAgainst = (record: PlainRecord | undefined, subject: string | undefined): string | null => {
  const by = record?.['lockedBy']
  if (typeof by !== 'string' || by === '' || by === subject) return null
  const name = record?.['lockedByName']
  return lockedMessage(typeof name === 'string' ? name : '')
}

const create: PermissionRule = ({ after, subject }) =>
  after?.['lockedBy'] === '' ||
  (subject !== undefined && after?.['lockedBy'] === subject) ||
  'a new shape may be locked only by its writer'

const update: PermissionRule = ({ before, after, subject }) => {
  const locked = lockedAgainst(before, subject)
  if (locked !== null) return locked
  const from = before?.['lockedBy']
  const to = after?.['lockedBy']
  if (from === to) return true
  // An unlocked shape is locked by its writer; only the one who locked it unlocks it.
  if (subject !== undefined && ((from === '' && to === subject) || (from === subject && to === '')))
    return true
  return 'a shape is locked by the writer alone, and unlocked only by the one who locked it'
}

const remove: PermissionRule = ({ before, subject }) => lockedAgainst(before, subject) ?? true

/**
 * The schema the rules check, for v1 and v2 pages in one room: v2's name, version and migration (the marks a v2 page
 * writes, RULES-4.11) and shapes with the fields of both versions (v1 pages write `color`, v2 pages `fill`: a field
 * the rules' schema does not declare is refused, RULES-2.8).
 */
const demoRulesSchema = defineSchema({
  name: demoSchemaV2.name,
  version: demoSchemaV2.version,
  migrations: demoSchemaV2.migrations,
  root: {
    ...demoSchemaV2.root,
    shapes: s.collection({
      ...demoSchemaV2.root.shapes.record.fields,
      color: demoSchemaV1.root.shapes.record.fields.color,
    }),
  },
})

/** The rules of the demo document (both schema versions' shapes, see {@link demoRulesSchema}). */
export const boardRules = defineRules(demoRulesSchema, {
  collections: { shapes: { create, update, delete: remove } },
})

/** One write to a shape, as the page is about to make it: the fields it sets, or `null` to delete the shape. */
export interface ShapeWrite {
  readonly id: string
  readonly patch: Readonly<Record<string, unknown>> | null
}

/**
 * Checks writes to shapes of `doc` with {@link boardRules}, as the relay will check them, before they are made:
 * `{ ok: true }`, or the rule they break with its reason (e.g. `Locked by Ada: not allowed`).
 */
export const checkShapeWrites = (doc: Y.Doc, writer: Writer, writes: readonly ShapeWrite[]): RulesVerdict => {
  const changes: RecordChange[] = writes.map(({ id, patch }) => {
    const before = readRuleRecord(doc, boardRules, 'shapes', id).record
    return {
      collection: 'shapes',
      id,
      before,
      after: patch === null || !before ? undefined : { ...before, ...patch },
    }
  })
  return checkChanges(boardRules, writer, changes, (c) => readRuleCollection(doc, boardRules, c))
}

/**
 * The rules of a relay room (what `weft serve --rules` takes, through demo/scripts/rules.mjs): {@link boardRules} for
 * every demo document, none for a workspace's catalogue (`<workspace>/.catalogue`, the document list), which has a
 * schema of its own.
 */
export const rulesForRoom = (room: string): typeof boardRules | null =>
  room === CATALOGUE_DOC || room.endsWith(`/${CATALOGUE_DOC}`) ? null : boardRules

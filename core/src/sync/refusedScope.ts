import * as Y from 'yjs'
import { someStruct } from './someStruct.js'

/**
 * Which part of a refused update a rollback undoes (docs/spec/rules.md, RULES-5.10, RULES-5.13): the record the
 * relay's rejection names, or the whole update when the rejection names no record the writer can scope to.
 */

/**
 * Whether `item` lies in the record at `path` (keys from the root: the root type's name, then map keys): every key of
 * the item's own path, up to the length of `path`, is `path`'s, a list position counting as any key (so an item
 * holding the record, or held by it, counts too).
 */
export const inRecord = (item: Y.Item, path: readonly string[]): boolean => {
  const keys: Array<string | null> = []
  let at: Y.Item = item
  for (;;) {
    keys.unshift(at.parentSub)
    const parent = at.parent as Y.AbstractType<unknown>
    if (parent._item === null) {
      keys.unshift(Y.findRootTypeKey(parent))
      break
    }
    at = parent._item
  }
  for (let i = 0; i < Math.min(keys.length, path.length); i++)
    if (keys[i] !== null && keys[i] !== path[i]) return false
  return true
}

/** Calls `visit` on every item of `doc` with an id in `[clock, clock + len)` of `client`, until it returns true. */
const someItem = (
  doc: Y.Doc,
  client: number,
  clock: number,
  len: number,
  visit: (item: Y.Item) => boolean,
): boolean => someStruct(doc, client, clock, len, (s) => s instanceof Y.Item && visit(s))

/**
 * Whether a rule id names a rule of a record (RULES-1: `<collection>.<rule>`, a field's `<collection>.<field>.<rule>`,
 * `unique:<collection>.<field>`), whose path's first two keys are the record that broke it. Any other refusal (a
 * `sum:` constraint, whose path names the first changed record rather than the one that broke the total; a workspace
 * catalogue's `catalogue-access`, whose path is a catalogue key; a reserved or undeclared write) is rolled back whole.
 */
const isRecordRule = (ruleId: string): boolean => ruleId.startsWith('unique:') || /^[^:]+\./.test(ruleId)

/**
 * RULES-5.13: the record (collection and id, or a root record's field: the rejection path's first two keys) whose
 * changes a rollback of the refused update `rejected` removes, or `null` when the whole update is rolled back:
 * the path has fewer than two keys (empty: a rule about no one place; one: a whole collection or top-level type), the
 * rule is not a record's (`isRecordRule`: a `sum:` constraint, a catalogue's `catalogue-access`), or the
 * update neither inserted (as one of `own`, the client ids whose items a rollback removes) nor deleted anything in
 * that record, so a rollback of the record alone would undo nothing of the refusal.
 */
export const refusedScope = (
  doc: Y.Doc,
  rejected: Uint8Array,
  rejection: { readonly ruleId: string; readonly path: readonly string[] },
  own: readonly number[],
): readonly string[] | null => {
  if (rejection.path.length < 2 || !isRecordRule(rejection.ruleId)) return null
  const record = rejection.path.slice(0, 2)
  const update = Y.decodeUpdate(rejected)
  const inside = (item: Y.Item) => inRecord(item, record)
  for (const s of update.structs)
    if (
      !(s instanceof Y.Skip) &&
      own.includes(s.id.client) &&
      someItem(doc, s.id.client, s.id.clock, s.length, inside)
    )
      return record
  for (const [client, ranges] of update.ds.clients)
    for (const r of ranges) if (someItem(doc, client, r.clock, r.len, inside)) return record
  return null
}

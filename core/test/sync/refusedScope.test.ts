import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { refusedScope } from '../../src/sync/refusedScope.js'

/** A writer's document whose shape `a` exists at the relay, and one update of it changing shape `b`. */
const writer = () => {
  const doc = new Y.Doc()
  const shapes = doc.getMap<Y.Map<unknown>>('shapes')
  const a = new Y.Map<unknown>()
  shapes.set('a', a)
  a.set('x', 1)
  const before = Y.encodeStateVector(doc)
  const b = new Y.Map<unknown>()
  shapes.set('b', b)
  b.set('x', 2)
  const update = Y.encodeStateAsUpdate(doc, before)
  return { doc, update, own: [doc.clientID] }
}

describe('refusedScope: the record a refusal is rolled back for (RULES-5.13)', () => {
  it('RULES-5.13: a rule of a record the update changed: that record (its first two keys)', () => {
    const { doc, update, own } = writer()
    expect(refusedScope(doc, update, { ruleId: 'shapes.x.max', path: ['shapes', 'b', 'x'] }, own)).toEqual([
      'shapes',
      'b',
    ])
  })

  it('RULES-5.13: a deletion in the record counts as a change of it', () => {
    const { doc, own } = writer()
    const before = Y.encodeStateVector(doc)
    ;(doc.getMap('shapes').get('a') as Y.Map<unknown>).delete('x')
    const update = Y.encodeStateAsUpdate(doc, before)
    expect(refusedScope(doc, update, { ruleId: 'shapes.delete', path: ['shapes', 'a'] }, own)).toEqual([
      'shapes',
      'a',
    ])
  })

  it('RULES-5.13: no record to scope to: the whole update (empty path, a collection, a sum, a record it did not change)', () => {
    const { doc, update, own } = writer()
    const whole = (ruleId: string, path: string[]) => refusedScope(doc, update, { ruleId, path }, own)
    expect(whole('depends-on-rejected', [])).toBeNull()
    expect(whole('undeclared', ['shapes'])).toBeNull()
    expect(whole('sum:shapes.x', ['shapes', 'b', 'x'])).toBeNull()
    // A workspace catalogue's refusal names a catalogue key, not a record of rules: its update goes whole (the
    // deletion of a document it may only read lives in another root map than the entry the path names).
    expect(whole('catalogue-access', ['shapes', 'b'])).toBeNull()
    expect(whole('unique:shapes.x', ['shapes', 'b', 'x'])).toEqual(['shapes', 'b'])
    // Shape `a` is at the relay and the update did not touch it: scoped to it, the rollback would undo nothing.
    expect(whole('shapes.owner', ['shapes', 'a'])).toBeNull()
    // Items of a client that is not this writer's are never the writer's to remove.
    expect(
      refusedScope(doc, update, { ruleId: 'shapes.owner', path: ['shapes', 'b'] }, [doc.clientID + 1]),
    ).toBeNull()
  })
})

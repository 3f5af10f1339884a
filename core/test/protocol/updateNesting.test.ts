import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { ParentLink, UpdateNesting } from '../../src/protocol/UpdateNesting.js'
import { validateUpdate } from '../../src/protocol/validateUpdate.js'

describe('UpdateNesting (SYNC-3.5a)', () => {
  it('SYNC-3.5a: a root map of plain entries is walked without recording an item; depths are unchanged', () => {
    const nesting = new UpdateNesting()
    nesting.startClient(1)
    for (let clock = 0; clock < 10_000; clock++) nesting.item(clock, 1, false, ParentLink.Root, 0, 0)
    expect(nesting.recorded).toBe(0)
    expect(nesting.depth()).toBe(0)
    // A type whose origin is such an entry is in the root type: depth 1, as when the entry was recorded.
    nesting.item(10_000, 1, true, ParentLink.Origin, 1, 5)
    // A type whose parent (by id) is such an entry: an entry is no type, so depth 1 too.
    nesting.item(10_001, 1, true, ParentLink.Item, 1, 7)
    // A type inside the type above: depth 2.
    nesting.item(10_002, 1, true, ParentLink.Item, 1, 10_001)
    expect(nesting.recorded).toBe(3)
    expect(nesting.depth()).toBe(2)
  })

  it('SYNC-3.5a: a client whose section held only unrecorded entries is still refused when listed twice', () => {
    const nesting = new UpdateNesting()
    nesting.startClient(1)
    nesting.item(0, 1, false, ParentLink.Root, 0, 0)
    nesting.startClient(2)
    expect(() => nesting.startClient(1)).toThrow(/appears twice/)
    // An empty earlier section may start again (as before).
    const other = new UpdateNesting()
    other.startClient(1)
    other.startClient(2)
    expect(() => other.startClient(1)).not.toThrow()
  })

  it('SYNC-3.5a: validateUpdate finds the same depths for real documents (root maps, texts, nested types)', () => {
    const doc = new Y.Doc()
    const root = doc.getMap('m')
    for (let i = 0; i < 200; i++) root.set(`k${i}`, i)
    let inner = new Y.Map<unknown>()
    root.set('deep', inner)
    for (let d = 0; d < 30; d++) {
      const next = new Y.Map<unknown>()
      inner.set('x', next)
      inner.set('v', d)
      inner = next
    }
    doc.getText('t').insert(0, 'hello world')
    const arr = doc.getArray<unknown>('a')
    arr.insert(0, [1, 2, new Y.Map(), 3])
    arr.insert(2, [new Y.Array()])
    expect(validateUpdate(Y.encodeStateAsUpdate(doc)).depth).toBe(31)
  })
})

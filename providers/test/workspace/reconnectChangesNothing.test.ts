import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { changesNothingOver, readDeletions, type DeleteRanges } from '@weft/core/protocol'

/** A document whose text had `n` separate deletions (one range each), and its delete set as an update. */
const deletedEveryOther = (n: number, clientID = 1) => {
  const doc = new Y.Doc()
  doc.clientID = clientID
  const text = doc.getText('t')
  text.insert(0, 'x'.repeat(2 * n))
  doc.transact(() => {
    for (let i = n - 1; i >= 0; i--) text.delete(2 * i, 1)
  })
  const deletions = Y.encodeStateAsUpdate(doc, Y.encodeStateVector(doc)) // no struct: the delete set alone
  return { doc, deletions, ranges: readDeletions(deletions)?.deletions as DeleteRanges }
}

describe('changesNothingOver: the step 2 that changes nothing (RELAY-3.9, WS-CLIENT-LINK-9)', () => {
  it('RELAY-3.9: an update with a struct changes something, and the held deletions are not read for it', () => {
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'a')
    let reads = 0
    expect(
      changesNothingOver(Y.encodeStateAsUpdate(doc), () => {
        reads++
        return new Map()
      }),
    ).toBe(false)
    expect(reads).toBe(0)
  })

  it('RELAY-3.9, WS-CLIENT-LINK-9: no struct and only held deletions changes nothing; one deletion more, or unknown held deletions, may change something', () => {
    const { deletions, ranges } = deletedEveryOther(3)
    expect(changesNothingOver(new Uint8Array([0, 0]), () => new Map())).toBe(true)
    expect(changesNothingOver(deletions, () => ranges)).toBe(true)
    const fewer: DeleteRanges = new Map([[1, (ranges.get(1) ?? []).slice(1)]])
    expect(changesNothingOver(deletions, () => fewer)).toBe(false)
    expect(changesNothingOver(deletions, () => new Map([[2, ranges.get(1) ?? []]]))).toBe(false)
    expect(changesNothingOver(deletions, () => null)).toBe(false)
    expect(changesNothingOver(new Uint8Array([0, 7, 1]), () => ranges)).toBe(false) // not a Yjs update
  })

  it('WS-CLIENT-LINK-9: a catalogue-sized delete set (5,000 ranges) held by the other side changes nothing; missing its last range, it does', () => {
    const { deletions, ranges } = deletedEveryOther(5_000)
    const list = ranges.get(1) ?? []
    expect(list).toHaveLength(5_000)
    // One wide range covering them all holds them too.
    expect(changesNothingOver(deletions, () => new Map([[1, [[0, 10_000]]]]))).toBe(true)
    expect(changesNothingOver(deletions, () => ranges)).toBe(true)
    expect(changesNothingOver(deletions, () => new Map([[1, list.slice(0, -1)]]))).toBe(false)
  })
})

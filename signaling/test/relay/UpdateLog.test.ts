import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { decodeMessage } from '@weft/core/protocol'
import { UpdateLog, type AnswerEncoder } from '../../src/relay/UpdateLog.js'
import { stateVectorOfParts } from '../../src/relay/stateVectorOfParts.js'
import { encodeSyncStep2, encodeSyncUpdate } from '@weft/core/protocol'

const svOf = (update: Uint8Array) => Y.decodeStateVector(Y.encodeStateVectorFromUpdate(update))

/** Edits by `clients` writers that see each other's changes; every transaction's update, in order. */
const history = (
  ops: ReadonlyArray<[writer: number, pos: number, del: number, text: string]>,
  clients = 3,
) => {
  const docs = Array.from({ length: clients }, (_, i) => {
    const d = new Y.Doc()
    d.clientID = 100 + i
    return d
  })
  const updates: Uint8Array[] = []
  for (const [w, pos, del, text] of ops) {
    const doc = docs[w % clients] as Y.Doc
    const t = doc.getText('t')
    let update: Uint8Array | null = null
    const grab = (u: Uint8Array) => (update = u)
    doc.once('update', grab)
    doc.transact(() => {
      const at = pos % (t.length + 1)
      if (del > 0 && at < t.length) t.delete(at, Math.min(del, t.length - at))
      t.insert(at, text)
    })
    doc.off('update', grab)
    if (!update) continue
    updates.push(update)
    for (const other of docs) if (other !== doc) Y.applyUpdate(other, update)
  }
  return updates
}

const opsArb = fc.array(
  fc.tuple(fc.nat(5), fc.nat(40), fc.nat(3), fc.string({ minLength: 1, maxLength: 4 })),
  { minLength: 2, maxLength: 40 },
)

describe('stateVectorOfParts (RELAY-2.3)', () => {
  it('equals the merged state vector for a tail in any order after a gap-free base', () => {
    fc.assert(
      fc.property(opsArb, fc.nat(), fc.nat(), (ops, cut, seed) => {
        const updates = history(ops)
        const k = cut % updates.length
        const base = Y.mergeUpdates(updates.slice(0, k))
        const tail = updates.slice(k)
        // Shuffle the tail deterministically: later runs may come first.
        const shuffled = tail
          .map((u, i) => [((i + 1) * (seed + 7)) % 101, u] as const)
          .sort((a, b) => a[0] - b[0])
        const parts = shuffled.map(([, u]) => u)
        const expected = svOf(Y.mergeUpdates([base, ...parts]))
        expect(stateVectorOfParts(svOf(base), parts)).toEqual(expected)
      }),
      { numRuns: 150 },
    )
  })

  it('never claims more than the merged state holds, whatever is missing or merged with gaps', () => {
    fc.assert(
      fc.property(opsArb, fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }), (ops, keep) => {
        const updates = history(ops)
        // Drop some updates: the rest has gaps; merged pairs carry Skip structs.
        const kept = updates.filter((_, i) => keep[i % keep.length])
        if (kept.length < 2) return
        const half = Math.floor(kept.length / 2)
        const base = Y.mergeUpdates(kept.slice(0, half))
        const tail = [Y.mergeUpdates(kept.slice(half)), ...kept.slice(half).reverse()]
        const merged = svOf(Y.mergeUpdates([base, ...tail]))
        for (const [client, clock] of stateVectorOfParts(svOf(base), tail)) {
          expect(clock).toBeLessThanOrEqual(merged.get(client) ?? 0)
        }
      }),
      { numRuns: 150 },
    )
  })
})

describe('UpdateLog', () => {
  const encode: AnswerEncoder = (diff, kind) =>
    kind === 'step2' ? encodeSyncStep2(diff) : encodeSyncUpdate(diff)
  const apply = (doc: Y.Doc, messages: readonly Uint8Array[]) => {
    const kinds: string[] = []
    for (const m of messages) {
      const decoded = decodeMessage(m)
      kinds.push(decoded.type)
      if (decoded.type === 'sync-step2' || decoded.type === 'sync-update') Y.applyUpdate(doc, decoded.update)
    }
    return kinds
  }

  it('RELAY-2.3: after a small tail, joiners get the tail as one update, then the merged base as step 2', () => {
    const updates = history([
      [0, 0, 0, 'hello '],
      [1, 6, 0, 'world'],
      [2, 0, 2, 'J'],
      [0, 3, 0, '!'],
    ])
    const log = new UpdateLog(updates.slice(0, 2))
    const sv0 = log.stateVector()
    expect(Y.decodeStateVector(sv0)).toEqual(svOf(Y.mergeUpdates(updates.slice(0, 2))))
    log.append(updates[2] as Uint8Array)
    log.append(updates[3] as Uint8Array)
    // Advanced through the tail without merging: equal to the merged state's.
    expect(Y.decodeStateVector(log.stateVector())).toEqual(svOf(Y.mergeUpdates(updates)))
    const fresh = new Y.Doc()
    const kinds = apply(fresh, log.answer(Y.encodeStateVector(new Y.Doc()), encode))
    expect(kinds).toEqual(['sync-update', 'sync-step2'])
    const reference = new Y.Doc()
    for (const u of updates) Y.applyUpdate(reference, u)
    expect(fresh.getText('t').toString()).toBe(reference.getText('t').toString())
    // A peer that has the base gets only the tail (an empty step 2 still ends its sync).
    const peer = new Y.Doc()
    for (const u of updates.slice(0, 2)) Y.applyUpdate(peer, u)
    const toPeer = log.answer(Y.encodeStateVector(peer), encode)
    expect(apply(peer, toPeer)).toEqual(['sync-update', 'sync-step2'])
    expect(peer.getText('t').toString()).toBe(reference.getText('t').toString())
  })

  it('RELAY-3.7: lacksOnlyTail says whether a state vector covers the merged base, while the tail is small and the base announced', () => {
    const updates = history(
      Array.from({ length: 20 }, (_, i) => [i % 3, i * 5, i % 2, 'xy'] as [number, number, number, string]),
    )
    const svAfter = (n: number) => Y.encodeStateVectorFromUpdate(Y.mergeUpdates(updates.slice(0, n)))
    const log = new UpdateLog(updates.slice(0, 2))
    // The base's state vector is not known before the state is announced: nothing is decoded to find out.
    expect(log.lacksOnlyTail(svAfter(2))).toBe(false)
    log.stateVector()
    // Merged into one part: a peer that holds it lacks nothing.
    expect(log.lacksOnlyTail(svAfter(2))).toBe(true)
    expect(log.lacksOnlyTail(svAfter(1))).toBe(false)
    for (const u of updates.slice(2, 4)) log.append(u)
    expect(log.lacksOnlyTail(svAfter(2))).toBe(true)
    expect(log.lacksOnlyTail(svAfter(3))).toBe(true)
    expect(log.lacksOnlyTail(svAfter(1))).toBe(false)
    expect(log.lacksOnlyTail(Y.encodeStateVector(new Y.Doc()))).toBe(false)
    expect(log.lacksOnlyTail(new Uint8Array([5, 1]))).toBe(false)
    // Past 16 updates the tail is not small (RELAY-2.3): a joiner is answered from the merged state.
    for (const u of updates.slice(4, 19)) log.append(u)
    expect(log.lacksOnlyTail(svAfter(2))).toBe(false)
  })

  it('RELAY-9.4: byteLength is the bytes of the parts held, through appends, merges, answers and rebases', () => {
    const sum = (log: UpdateLog) => log.parts().reduce((n, p) => n + p.byteLength, 0)
    const op = fc.oneof(
      fc.constant('state' as const),
      fc.constant('sv' as const),
      fc.constant('answer' as const),
      fc.constant('mark' as const),
      fc.constant('rebase' as const),
      fc.integer({ min: 1, max: 300 }),
    )
    const updates = history(
      Array.from({ length: 700 }, (_, i) => [i % 3, i * 7, i % 4, 'ab'] as [number, number, number, string]),
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 12 }), (ops) => {
        let next = 1
        const log = new UpdateLog(updates.slice(0, 1))
        for (const o of ops) {
          if (o === 'state') log.state()
          else if (o === 'sv') log.stateVector()
          else if (o === 'answer') log.answer(Y.encodeStateVector(new Y.Doc()), encode)
          else if (o === 'mark') log.mark()
          else if (o === 'rebase') log.rebase([log.state()], 'same')
          // Every 256 appends the log merges them into one part (and 16 of those into one).
          else for (let i = 0; i < o && next < updates.length; i++) log.append(updates[next++] as Uint8Array)
          expect(log.byteLength).toBe(sum(log))
        }
      }),
      { numRuns: 30 },
    )
  })

  it('RELAY-2.3: whatever the merges, the state is byte-equal to Y.mergeUpdates of the base and every update taken', () => {
    // Differential: the log's merge policy (groups of 256 updates, then of 16 merges, the bound) against one merge,
    // with readers (state, state vector, answers) and rebases at random points; the answer to a random state vector
    // gives a peer exactly the reference document.
    const updates = history(
      Array.from(
        { length: 600 },
        (_, i) => [(i * 5) % 7, i * 11, i % 3, 'xy'] as [number, number, number, string],
      ),
      7,
    )
    const step = fc.oneof(
      fc.constant('state' as const),
      fc.constant('sv' as const),
      fc.constant('rebase' as const),
      fc.integer({ min: 1, max: 320 }),
    )
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 8 }), fc.nat(), (steps, peerCut) => {
        let next = 1
        const log = new UpdateLog(updates.slice(0, 1))
        for (const s of steps) {
          if (s === 'state') log.state()
          else if (s === 'sv') log.stateVector()
          else if (s === 'rebase') log.rebase([Y.mergeUpdates(updates.slice(0, next))], 'same')
          else
            for (let i = 0; i < s && next < updates.length; i++)
              expect(log.append(updates[next++] as Uint8Array)).toBe(true)
        }
        const taken = updates.slice(0, next)
        const reference = Y.mergeUpdates(taken)
        expect(Y.decodeStateVector(log.stateVector())).toEqual(svOf(reference))
        const peer = new Y.Doc()
        for (const u of taken.slice(0, peerCut % next)) Y.applyUpdate(peer, u)
        apply(peer, log.answer(Y.encodeStateVector(peer), encode))
        const expected = new Y.Doc()
        Y.applyUpdate(expected, reference)
        expect(Y.encodeStateAsUpdate(peer)).toEqual(Y.encodeStateAsUpdate(expected))
        expect(log.state()).toEqual(reference)
      }),
      { numRuns: 25 },
    )
  })

  it('RELAY-9.1: a merge of 256 updates is not merged again with the next 256, only once 16 such merges are held', () => {
    const updates = history(
      Array.from(
        { length: 1 + 16 * 256 },
        (_, i) => [i % 4, i * 3, 0, 'z'] as [number, number, number, string],
      ),
      4,
    )
    const log = new UpdateLog(updates.slice(0, 1))
    let next = 1
    const append = (n: number) => {
      for (let i = 0; i < n; i++) expect(log.append(updates[next++] as Uint8Array)).toBe(true)
    }
    append(255)
    expect(log.parts()).toHaveLength(256) // held as they are, as before
    append(1) // the 257th part: merged with the 255 before it, as before
    const first = log.parts()[1]
    expect(log.parts()).toHaveLength(2)
    expect(first).toEqual(Y.mergeUpdates(updates.slice(1, 257)))
    append(256)
    // The base, then two merges of 256 (the former policy merged the first again: one merge of 512).
    expect(log.parts()).toHaveLength(3)
    expect(log.parts()[1]).toBe(first)
    append(13 * 256)
    expect(log.parts()).toHaveLength(16)
    expect(log.parts()[1]).toBe(first)
    append(256)
    expect(log.parts()).toHaveLength(2) // 16 merges of 256 merged into one
    expect(log.state()).toEqual(Y.mergeUpdates(updates))
  })

  it('a long tail is merged and answered with one step 2', () => {
    const updates = history(
      Array.from({ length: 40 }, (_, i) => [i % 3, i, 0, 'x'] as [number, number, number, string]),
    )
    const log = new UpdateLog(updates.slice(0, 1))
    log.stateVector()
    for (const u of updates.slice(1)) log.append(u)
    const fresh = new Y.Doc()
    expect(apply(fresh, log.answer(Y.encodeStateVector(new Y.Doc()), encode))).toEqual(['sync-step2'])
    expect(Y.decodeStateVector(log.stateVector())).toEqual(svOf(Y.mergeUpdates(updates)))
  })
})

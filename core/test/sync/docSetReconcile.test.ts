import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { WeftError } from '../../src/WeftError.js'
import { DocSet, DocSetReconciler, type DocSetEntry } from '../../src/sync/docSetReconcile.js'
import { randomInt, seededRandom, type Rand } from '../../src/testing/seededRandom.js'

/** Runs an exchange to its end; returns both sides. */
const reconcile = (
  a: DocSet,
  b: DocSet,
  options?: { buckets?: number; listThreshold?: number },
): { a: DocSetReconciler; b: DocSetReconciler; rounds: number } => {
  const ra = new DocSetReconciler(a, options)
  const rb = new DocSetReconciler(b, options)
  let message: Uint8Array | null = ra.initiate()
  let receiver = rb
  let rounds = 0
  while (message !== null) {
    rounds++
    expect(rounds).toBeLessThan(200)
    message = receiver.receive(message)
    receiver = receiver === rb ? ra : rb
  }
  return { a: ra, b: rb, rounds }
}

const sv = (rand: Rand): Uint8Array => {
  const out = new Uint8Array(1 + randomInt(rand, 12))
  for (let i = 0; i < out.length; i++) out[i] = randomInt(rand, 255)
  return out
}

const idOf = (rand: Rand, i: number): string =>
  // Ids that share prefixes, include non-ASCII and vary in length, so ordering and bounds are exercised.
  `${['doc', 'note', 'Ω', ''][randomInt(rand, 3)]}-${i.toString(36)}${randomInt(rand, 4) === 0 ? '/x' : ''}`

describe('document set reconciliation (WS-DIGEST)', () => {
  it('WS-DIGEST-3: both sides find exactly the documents missing on one side or with another state vector', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rand = seededRandom(seed)
      const n = randomInt(rand, seed % 10 === 0 ? 3000 : 200)
      const a: DocSetEntry[] = []
      const b: DocSetEntry[] = []
      const expected = new Set<string>()
      const used = new Set<string>()
      for (let i = 0; i < n; i++) {
        const id = idOf(rand, i)
        if (used.has(id)) continue
        used.add(id)
        const v = sv(rand)
        const where = randomInt(rand, 19)
        if (where === 0) {
          a.push({ id, stateVector: v })
          expected.add(id)
        } else if (where === 1) {
          b.push({ id, stateVector: v })
          expected.add(id)
        } else if (where === 2) {
          a.push({ id, stateVector: v })
          b.push({ id, stateVector: Uint8Array.of(...v, 1) })
          expected.add(id)
        } else {
          a.push({ id, stateVector: v })
          b.push({ id, stateVector: v.slice() })
        }
      }
      const options = { buckets: 2 + randomInt(rand, 14), listThreshold: 1 + randomInt(rand, 40) }
      const { a: ra, b: rb } = reconcile(new DocSet(a), new DocSet(b), options)
      expect([...ra.differing].sort(), `seed ${seed}`).toEqual([...expected].sort())
      expect([...rb.differing].sort(), `seed ${seed}`).toEqual([...expected].sort())
    }
  })

  it('WS-DIGEST-2: two peers holding the same 10,000 documents exchange one fingerprint and stop', () => {
    const docs: DocSetEntry[] = []
    for (let i = 0; i < 10_000; i++) {
      const doc = new Y.Doc()
      doc.clientID = 1000 + (i % 7)
      doc.getMap('m').set('k', i)
      docs.push({ id: `doc-${i}`, stateVector: Y.encodeStateVector(doc) })
    }
    const { a, rounds } = reconcile(new DocSet(docs), new DocSet(docs))
    expect(rounds).toBe(1)
    expect(a.differing.size).toBe(0)
    expect(a.bytes).toBeLessThan(40)
  })

  it('WS-DIGEST-2: one changed document among 10,000 costs O(log n) rounds and a few KB, not every state vector', () => {
    const rand = seededRandom(7)
    const a: DocSetEntry[] = []
    for (let i = 0; i < 10_000; i++) a.push({ id: `doc-${i}`, stateVector: sv(rand) })
    const b = a.map((e, i) =>
      i === 4321 ? { id: e.id, stateVector: Uint8Array.of(...e.stateVector, 9) } : e,
    )
    const naive = a.reduce((sum, e) => sum + e.id.length + e.stateVector.length + 2, 0)
    const { a: ra, b: rb, rounds } = reconcile(new DocSet(a), new DocSet(b))
    expect([...ra.differing]).toEqual(['doc-4321'])
    expect([...rb.differing]).toEqual(['doc-4321'])
    // log16(10,000) < 4 splits, then a list and its answer.
    expect(rounds).toBeLessThanOrEqual(6)
    expect(ra.bytes).toBeLessThan(naive / 20)
  })

  it('WS-DIGEST-1: an empty set against a full one lists the full one', () => {
    const docs = Array.from({ length: 100 }, (_, i) => ({ id: `d${i}`, stateVector: Uint8Array.of(i) }))
    for (const [x, y] of [
      [[], docs],
      [docs, []],
      [[], []],
    ] as const) {
      const { a, b } = reconcile(new DocSet(x), new DocSet(y))
      expect(a.differing.size).toBe(Math.max(x.length, y.length))
      expect(b.differing.size).toBe(Math.max(x.length, y.length))
    }
  })

  it('WS-DIGEST-4: junk, truncated and reordered messages are refused with malformed-message, nothing recorded', () => {
    const rand = seededRandom(11)
    const docs = Array.from({ length: 500 }, (_, i) => ({ id: `d${i}`, stateVector: sv(rand) }))
    const other = docs.map((e, i) => (i % 50 === 0 ? { id: e.id, stateVector: Uint8Array.of(1) } : e))
    const sender = new DocSetReconciler(new DocSet(docs), { listThreshold: 4 })
    const valid = [sender.initiate()]
    const answer = new DocSetReconciler(new DocSet(other), { listThreshold: 4 }).receive(valid[0]!)
    if (answer) valid.push(answer)
    const otherSet = new DocSet(other)
    const tryJunk = (bytes: Uint8Array): void => {
      const r = new DocSetReconciler(otherSet)
      try {
        r.receive(bytes)
      } catch (error) {
        expect(error).toBeInstanceOf(WeftError)
        expect((error as WeftError).code).toBe('malformed-message')
        expect(r.differing.size).toBe(0)
      }
    }
    for (const message of valid) {
      for (let cut = 0; cut < message.length; cut++) tryJunk(message.subarray(0, cut))
      for (let k = 0; k < 500; k++) {
        const mutated = message.slice()
        mutated[randomInt(rand, mutated.length - 1)] = randomInt(rand, 255)
        tryJunk(mutated)
      }
    }
    for (let k = 0; k < 2000; k++)
      tryJunk(Uint8Array.from({ length: randomInt(rand, 64) }, () => randomInt(rand, 255)))
    // Bounds that go backwards are refused explicitly.
    expect(() =>
      new DocSetReconciler(new DocSet(docs)).receive(Uint8Array.of(1, 2, 0, 1, 1, 0x62, 0, 1, 1, 0x61)),
    ).toThrow(/not increasing/)
  })
})

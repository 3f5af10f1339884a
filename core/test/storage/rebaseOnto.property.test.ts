/**
 * Property tests of epoch resets (docs/spec/compaction.md, COMPACT-5): random histories on 2-3 peers (text with
 * formatting, map, array), exchanged partially; one peer starts an epoch at a random point; the others keep editing
 * the old epoch offline (with or without each other's changes), then rebase onto the epoch; everyone exchanges
 * updates in the new epoch. Every inserted character and array element is unique, so "exactly once" is checkable.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { type EpochRecord } from '../../src/index.js'
import { rebaseOnto, startEpoch } from '../../src/storage/epochs.js'

type Op =
  | { readonly k: 'ins'; readonly p: number; readonly at: number; readonly n: number }
  | { readonly k: 'del'; readonly p: number; readonly at: number; readonly n: number }
  | { readonly k: 'fmt'; readonly p: number; readonly at: number; readonly n: number; readonly b: boolean }
  | { readonly k: 'set'; readonly p: number; readonly key: number }
  | { readonly k: 'unset'; readonly p: number; readonly key: number }
  | { readonly k: 'push'; readonly p: number; readonly at: number }
  | { readonly k: 'pop'; readonly p: number; readonly at: number }
  | { readonly k: 'nest'; readonly p: number; readonly key: number }
  | { readonly k: 'nins'; readonly p: number; readonly key: number; readonly at: number }
  | { readonly k: 'sync'; readonly p: number; readonly to: number }

const opArb = (peers: number): fc.Arbitrary<Op> => {
  const p = fc.nat({ max: peers - 1 })
  const at = fc.nat({ max: 1000 })
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({ k: fc.constant('ins' as const), p, at, n: fc.integer({ min: 1, max: 3 }) }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ k: fc.constant('del' as const), p, at, n: fc.integer({ min: 1, max: 3 }) }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        k: fc.constant('fmt' as const),
        p,
        at,
        n: fc.integer({ min: 1, max: 4 }),
        b: fc.boolean(),
      }),
    },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('set' as const), p, key: fc.nat({ max: 2 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('unset' as const), p, key: fc.nat({ max: 2 }) }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('push' as const), p, at }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('pop' as const), p, at }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('nest' as const), p, key: fc.nat({ max: 1 }) }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('nins' as const), p, key: fc.nat({ max: 1 }), at }) },
    {
      weight: 2,
      arbitrary: fc.record({ k: fc.constant('sync' as const), p, to: fc.nat({ max: peers - 1 }) }),
    },
  )
}

const sync = (from: Y.Doc, to: Y.Doc): void => {
  if (from !== to) Y.applyUpdate(to, Y.encodeStateAsUpdate(from, Y.encodeStateVector(to)))
}
/** Exchanges until nothing changes (applying remote formatting can make Yjs delete redundant marks locally). */
const syncAll = (docs: readonly Y.Doc[]): void => {
  const state = (): string => docs.map((d) => Y.encodeStateAsUpdate(d).join()).join('|')
  for (let round = 0, before = ''; round < 10 && before !== (before = state()); round++) {
    for (const a of docs) for (const b of docs) sync(a, b)
  }
}

const newDoc = (client: number): Y.Doc => {
  const doc = new Y.Doc()
  doc.clientID = client
  return doc
}

/** A unique character (CJK block: one UTF-16 unit each) or number per insertion. */
class Fresh {
  #n = 0
  /** Every value written to each map key. */
  readonly written = new Map<string, Set<number>>()
  char(): string {
    return String.fromCharCode(0x4e00 + this.#n++)
  }
  num(): number {
    return this.#n++
  }
}

/** Applies `op` to `docs[op.p]` (indices taken modulo the number of docs). */
const apply = (docs: readonly Y.Doc[], op: Op, fresh: Fresh): void => {
  const doc = docs[op.p % docs.length] as Y.Doc
  const text = doc.getText('t')
  const array = doc.getArray<number>('a')
  const map = doc.getMap<number>('m')
  switch (op.k) {
    case 'ins': {
      let s = ''
      for (let i = 0; i < op.n; i++) s += fresh.char()
      text.insert(op.at % (text.length + 1), s)
      return
    }
    case 'del':
      if (text.length > 0)
        text.delete(op.at % text.length, Math.min(op.n, text.length - (op.at % text.length)))
      return
    case 'fmt':
      if (text.length > 0) {
        const at = op.at % text.length
        text.format(at, Math.min(op.n, text.length - at), { b: op.b ? true : null })
      }
      return
    case 'set': {
      const value = fresh.num()
      map.set(`k${op.key}`, value)
      fresh.written.set(`k${op.key}`, (fresh.written.get(`k${op.key}`) ?? new Set()).add(value))
      return
    }
    case 'unset':
      map.delete(`k${op.key}`)
      return
    case 'push':
      array.insert(op.at % (array.length + 1), [fresh.num()])
      return
    case 'pop':
      if (array.length > 0) array.delete(op.at % array.length, 1)
      return
    case 'nest':
      doc.getMap<Y.Text>('n').set(`n${op.key}`, new Y.Text(fresh.char()))
      return
    case 'nins': {
      const nested = doc.getMap<Y.Text>('n').get(`n${op.key}`)
      if (nested) nested.insert(op.at % (nested.length + 1), fresh.char())
      return
    }
    case 'sync':
      sync(doc, docs[op.to % docs.length] as Y.Doc)
      return
  }
}

interface View {
  readonly text: string
  readonly delta: unknown
  readonly array: readonly number[]
  readonly map: Readonly<Record<string, unknown>>
  readonly nested: Readonly<Record<string, unknown>>
}
const view = (doc: Y.Doc): View => ({
  text: doc.getText('t').toString(),
  delta: doc.getText('t').toDelta(),
  array: doc.getArray<number>('a').toArray(),
  map: doc.getMap('m').toJSON(),
  nested: doc.getMap('n').toJSON(),
})

/** For each element not in `base`: the nearest element of `base` before it (gap membership). */
const gaps = <T>(seq: readonly T[], base: ReadonlySet<T>): Map<T, T | null> => {
  const out = new Map<T, T | null>()
  let last: T | null = null
  for (const x of seq) {
    if (base.has(x)) last = x
    else out.set(x, last)
  }
  return out
}

/** COMPACT-5 guarantees on one sequence: exactly once, base order, same gap; same order where no concurrency. */
const checkSequence = <T>(actual: readonly T[], expected: readonly T[], base: readonly T[]): void => {
  expect(actual.length).toBe(new Set(actual).size) // no duplicates
  expect(new Set(actual)).toEqual(new Set(expected)) // nothing lost, nothing resurrected
  const baseSet = new Set(base)
  expect(actual.filter((x) => baseSet.has(x))).toEqual(expected.filter((x) => baseSet.has(x)))
  expect(gaps(actual, baseSet)).toEqual(gaps(expected, baseSet))
}

/** Clients that wrote items above the base into `type` (or into key `key` of a map). */
const writersAfterBase = (
  doc: Y.Doc,
  sv: Map<number, number>,
  name: string,
  key?: string,
  nested?: Y.AbstractType<unknown>,
): Set<number> => {
  const writers = new Set<number>()
  const type = nested ?? doc.share.get(name)
  if (!type) return writers
  let item: Y.Item | null = key === undefined ? type._start : (type._map.get(key) ?? null)
  if (key !== undefined) while (item?.left) item = item.left
  for (; item !== null; item = item.right) {
    if (item.id.clock + item.length > (sv.get(item.id.client) ?? 0)) writers.add(item.id.client)
  }
  return writers
}

const rebaseInto = (doc: Y.Doc, old: Y.Doc, record: EpochRecord): void => {
  const result = rebaseOnto(old, record)
  if (!result.ok) throw new Error(result.reason)
  Y.applyUpdate(doc, result.update)
}

/** Runs per property (raise with WEFT_EPOCH_RUNS=20000 for a long search). */
const RUNS = Number(process.env.WEFT_EPOCH_RUNS ?? 250)
const TIMEOUT = 30_000 + RUNS * 20

const scenario = fc.record({
  peers: fc.integer({ min: 2, max: 3 }),
  seed: fc.uniqueArray(fc.integer({ min: 1, max: 2 ** 32 - 1 }), { minLength: 7, maxLength: 7 }),
  starter: fc.nat({ max: 2 }),
  before: fc.array(opArb(3), { maxLength: 40 }),
  after: fc.array(opArb(3), { maxLength: 30 }),
  joinOrder: fc.array(fc.nat({ max: 2 }), { minLength: 3, maxLength: 3 }),
  early: fc.array(opArb(1), { maxLength: 10 }),
  newEpoch: fc.array(opArb(3), { maxLength: 20 }),
})
type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never

/**
 * Old epoch: random edits and partial syncs; the starter starts an epoch; the others keep editing the old epoch
 * offline; then each of them syncs the old epoch with the starter (COMPACT-5.1).
 */
const oldEpoch = (sc: Scenario, fresh: Fresh) => {
  const n = sc.peers
  const old = sc.seed.slice(0, n).map(newDoc)
  for (const op of sc.before) apply(old, op, fresh)
  const s = sc.starter % n
  const starter = old[s] as Y.Doc
  const baseView = view(starter)
  const sv = Y.decodeSnapshotV2(Y.encodeSnapshotV2(Y.snapshot(starter))).sv
  const { record, doc: starterNew } = startEpoch(starter)
  starterNew.clientID = sc.seed[n] as number
  const others = old.filter((_, i) => i !== s)
  for (const op of sc.after) apply(others, op, fresh)
  for (const d of others) sync(starter, d)
  const oracle = newDoc(0xfffffff)
  for (const d of old) sync(d, oracle)
  return { baseView, sv, record, starterNew, others, oracle }
}

/** The others join in a random order: each syncs with a random earlier joiner, then applies its rebase. */
const join = (sc: Scenario, record: EpochRecord, starterNew: Y.Doc, others: readonly Y.Doc[]): Y.Doc[] => {
  const joined: Y.Doc[] = [starterNew]
  const order = others
    .map((d, i) => ({ d, i, r: sc.joinOrder[i] ?? 0 }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
  for (const { d, i } of order) {
    const doc = newDoc(sc.seed[sc.peers + 1 + i] as number)
    Y.applyUpdateV2(doc, record.initial)
    sync(joined[(sc.joinOrder[i] ?? 0) % joined.length] as Y.Doc, doc)
    rebaseInto(doc, d, record)
    joined.push(doc)
  }
  return joined
}

const converged = (docs: readonly Y.Doc[]): View => {
  syncAll(docs)
  const views = docs.map(view)
  for (const v of views) expect(v).toEqual(views[0])
  return views[0] as View
}

describe('rebaseOnto: random histories across an epoch reset (COMPACT-5)', () => {
  it(
    "COMPACT-5.2-5.5, COMPACT-7.1: converges to the old epoch's merged content, every change exactly once",
    () => {
      fc.assert(
        fc.property(scenario, (sc) => {
          const fresh = new Fresh()
          const { baseView, sv, record, starterNew, others, oracle } = oldEpoch(sc, fresh)
          expect(view(starterNew)).toEqual(baseView) // COMPACT-7.1
          const expected = view(oracle)
          const joined = join(sc, record, starterNew, others)
          const actual = converged(joined)

          checkSequence([...actual.text], [...expected.text], [...baseView.text])
          checkSequence(actual.array, expected.array, baseView.array)
          // Where one client changed a sequence or key after the base, the result is exactly the old epoch's
          // (concurrent insertions around content deleted at the base may be ordered differently, COMPACT-5.5).
          if (writersAfterBase(oracle, sv, 't').size <= 1) {
            expect(actual.text).toBe(expected.text)
            expect(actual.delta).toEqual(expected.delta)
          }
          if (writersAfterBase(oracle, sv, 'a').size <= 1) expect(actual.array).toEqual(expected.array)
          for (const key of ['k0', 'k1', 'k2']) {
            if (writersAfterBase(oracle, sv, 'm', key).size <= 1)
              expect(actual.map[key]).toEqual(expected.map[key])
            else if (actual.map[key] !== undefined) expect(fresh.written.get(key)).toContain(actual.map[key])
          }
          // Nested texts in a map: exact where one client wrote the key and its texts after the base.
          const nestedWriters = new Set([
            ...writersAfterBase(oracle, sv, 'n', 'n0'),
            ...writersAfterBase(oracle, sv, 'n', 'n1'),
          ])
          for (const key of ['n0', 'n1']) {
            const value = oracle.getMap<Y.Text>('n').get(key)
            const inner = value as unknown as Y.AbstractType<unknown> | undefined
            for (const c of inner ? writersAfterBase(oracle, sv, '', undefined, inner) : [])
              nestedWriters.add(c)
          }
          if (nestedWriters.size <= 1) expect(actual.nested).toEqual(expected.nested)

          // New-epoch edits and partial exchanges still converge.
          for (const op of sc.newEpoch) apply(joined, op, fresh)
          converged(joined)
        }),
        { numRuns: RUNS },
      )
    },
    TIMEOUT,
  )

  it(
    'COMPACT-5.3, COMPACT-5.7: peers that join late, into an epoch already edited, lose none of their changes',
    () => {
      fc.assert(
        fc.property(scenario, (sc) => {
          const fresh = new Fresh()
          const { record, starterNew, others, oracle } = oldEpoch(sc, fresh)
          // The starter edits the new epoch before anyone else joins (deleting and formatting base content too).
          const newText = (): string[] => [...starterNew.getText('t').toString()]
          const inserted = new Set<string>()
          const removed = new Set<string>()
          for (const op of sc.early) {
            const before = newText()
            apply([starterNew], op, fresh)
            const after = newText()
            for (const ch of after) if (!before.includes(ch)) inserted.add(ch)
            for (const ch of before) if (!after.includes(ch)) removed.add(ch)
          }
          const joined = join(sc, record, starterNew, others)
          const actual = converged(joined)
          const expected = new Set(
            [...oracle.getText('t').toString(), ...inserted].filter((ch) => !removed.has(ch)),
          )
          expect(actual.text.length).toBe(new Set(actual.text).size)
          expect(new Set(actual.text)).toEqual(expected)
        }),
        { numRuns: RUNS },
      )
    },
    TIMEOUT,
  )
})

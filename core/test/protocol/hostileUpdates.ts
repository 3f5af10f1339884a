import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { validateUpdate } from '../../src/protocol/index.js'
import { randomInt, randomPick, seededRandom, type Rand } from '../../src/testing/index.js'

/**
 * The hostile-update differential check (SYNC-3.5), shared by the property test and `npm run fuzz -- --mode
 * hostile-update`: real documents, a generator of arbitrary (mostly well-formed) V1 updates that refer to them, byte
 * mutations of both, and the check that every update `validateUpdate` accepts merges and applies cleanly.
 */

/** The seeded generator (mulberry32), so a failing seed reproduces. */
export const prng = seededRandom
const int = randomInt
const pick = randomPick

/** Real documents written by clients 1 and 2: their updates, merged and garbage-collected states. */
export interface Corpus {
  /** The dependencies: the state every generated update may build on. */
  readonly base: Uint8Array
  /** Updates Yjs produced (incremental, merged, with GC and skip structs). */
  readonly samples: readonly Uint8Array[]
}

export const buildCorpus = (): Corpus => {
  const a = new Y.Doc({ gc: false })
  a.clientID = 1
  const samples: Uint8Array[] = []
  a.on('update', (u: Uint8Array) => samples.push(u))
  const text = a.getText('t')
  text.insert(0, 'héllo wörld 😀')
  text.format(0, 5, { bold: true })
  text.insertEmbed(3, { image: 'x.png' })
  const map = a.getMap('m')
  map.set('n', 1)
  map.set('o', { a: [1, 'two', null, true], b: 1.5 })
  map.set('bin', Uint8Array.from([1, 2, 3]))
  const inner = new Y.Map<unknown>()
  map.set('nested', inner)
  inner.set('deeper', new Y.Array())
  const frag = a.getXmlFragment('x')
  const el = new Y.XmlElement('p')
  frag.insert(0, [el])
  el.insert(0, [new Y.XmlText('para')])
  map.set('sub', new Y.Doc({ meta: { k: 1 } }))
  a.getArray('a').insert(0, [1, 2, 3])
  const b = new Y.Doc({ gc: false })
  b.clientID = 2
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a))
  const before = Y.encodeStateVector(b)
  b.getText('t').insert(2, 'BB')
  b.getArray('a').delete(1, 1)
  b.getMap('m').delete('n')
  const fromB = Y.encodeStateAsUpdate(b, before)
  samples.push(fromB)
  Y.applyUpdate(a, fromB)
  text.delete(0, 4)
  const base = Y.encodeStateAsUpdate(a)
  samples.push(base, Y.mergeUpdates(samples.filter((_, i) => i % 2 === 0)))
  const gc = new Y.Doc()
  Y.applyUpdate(gc, base)
  samples.push(Y.encodeStateAsUpdate(gc))
  return { base, samples }
}

/** An arbitrary V1 update over clients 1..3 and small clocks: every struct kind, every content, any lengths. */
export const generateUpdate = (r: Rand): Uint8Array => {
  const e = encoding.createEncoder()
  const clients = int(r, 2) + 1
  encoding.writeVarUint(e, clients)
  for (let c = 0; c < clients; c++) {
    const structs = int(r, 4) + 1
    encoding.writeVarUint(e, structs)
    encoding.writeVarUint(e, int(r, 3) + 1)
    encoding.writeVarUint(e, int(r, 40))
    for (let i = 0; i < structs; i++) writeStruct(e, r)
  }
  const ds = int(r, 2)
  encoding.writeVarUint(e, ds)
  for (let i = 0; i < ds; i++) {
    encoding.writeVarUint(e, int(r, 3) + 1)
    const ranges = int(r, 2) + 1
    encoding.writeVarUint(e, ranges)
    for (let j = 0; j < ranges; j++) {
      encoding.writeVarUint(e, int(r, 40))
      encoding.writeVarUint(e, int(r, 5))
    }
  }
  return encoding.toUint8Array(e)
}

const ROOTS = ['t', 'm', 'a', 'x', 'zz']
const id = (e: encoding.Encoder, r: Rand) => {
  encoding.writeVarUint(e, int(r, 3) + 1)
  encoding.writeVarUint(e, int(r, 40))
}

const writeStruct = (e: encoding.Encoder, r: Rand): void => {
  const kind = int(r, 11)
  if (kind === 0 || kind === 10) {
    encoding.writeUint8(e, kind)
    encoding.writeVarUint(e, int(r, 4))
    return
  }
  const ref = kind === 11 ? 7 : kind
  const origin = r() < 0.5
  const right = r() < 0.3
  const sub = r() < 0.3
  encoding.writeUint8(e, ref | (origin ? 0x80 : 0) | (right ? 0x40 : 0) | (sub ? 0x20 : 0))
  if (origin) id(e, r)
  if (right) id(e, r)
  if (!origin && !right) {
    if (r() < 0.5) {
      encoding.writeVarUint(e, 1)
      encoding.writeVarString(e, pick(r, ROOTS))
    } else {
      encoding.writeVarUint(e, 0)
      id(e, r)
    }
    if (sub) encoding.writeVarString(e, pick(r, ['k', 'n', 'nested']))
  }
  switch (ref) {
    case 1:
      encoding.writeVarUint(e, int(r, 3))
      return
    case 2: {
      const n = int(r, 2)
      encoding.writeVarUint(e, n)
      for (let i = 0; i < n; i++) encoding.writeVarString(e, pick(r, ['1', '"s"', 'undefined', '{}']))
      return
    }
    case 3:
      encoding.writeVarUint8Array(e, Uint8Array.from([1, 2]))
      return
    case 4:
      encoding.writeVarString(e, pick(r, ['', 'a', 'xy', '😀', 'é']))
      return
    case 5:
      encoding.writeVarString(e, pick(r, ['{"a":1}', 'null', '1']))
      return
    case 6:
      encoding.writeVarString(e, 'bold')
      encoding.writeVarString(e, pick(r, ['true', 'null']))
      return
    case 7: {
      const typeRef = int(r, 6)
      encoding.writeVarUint(e, typeRef)
      if (typeRef === 3 || typeRef === 5) encoding.writeVarString(e, 'p')
      return
    }
    case 8: {
      const n = int(r, 2)
      encoding.writeVarUint(e, n)
      for (let i = 0; i < n; i++) encoding.writeAny(e, pick(r, [1, 'x', null, { a: 1 }, [1]]))
      return
    }
    case 9:
      encoding.writeVarString(e, 'guid')
      encoding.writeAny(
        e,
        pick(r, [{}, null, [], 5, { gc: false }, { shouldLoad: 1 }, { guid: 7 }, { meta: null }, 'x']),
      )
      return
  }
}

/** Up to four random byte changes of `u` (sometimes a truncation). */
export const mutate = (r: Rand, u: Uint8Array): Uint8Array => {
  const out = r() < 0.1 ? u.slice(0, int(r, u.length)) : u.slice()
  if (out.length === 0) return out
  const n = int(r, 3) + 1
  for (let i = 0; i < n; i++) out[int(r, out.length - 1)] = r() < 0.5 ? int(r, 255) : int(r, 12)
  return out
}

/** Whether `validateUpdate` accepts `u` (as the relay calls it). */
export const accepts = (u: Uint8Array): boolean => {
  try {
    validateUpdate(u, { strings: true })
    return true
  } catch {
    return false
  }
}

const readAll = (doc: Y.Doc): void => {
  for (const type of doc.share.values()) type.toJSON()
  Y.encodeStateAsUpdate(doc)
  Y.encodeStateAsUpdateV2(doc)
}

const applyTo = (gc: boolean, ...updates: Uint8Array[]): void => {
  const doc = new Y.Doc({ gc })
  try {
    for (const u of updates) Y.applyUpdate(doc, u)
    readAll(doc)
  } finally {
    doc.destroy()
  }
}

/**
 * Throws (with what failed) unless `u` merges with and without `base`, and applies cleanly to a fresh document and
 * onto one holding `base` (with and without garbage collection), alone and merged. Not checked: applying `u` before
 * `base`. A GC struct says its range was collected with its deleted parent; one that claims so for an item `base`
 * holds in a live parent breaks Yjs's integration of `base` later, and no walk of `u` alone can know that.
 */
export const checkMergesAndApplies = (u: Uint8Array, base: Uint8Array): void => {
  const step = (what: string, run: () => unknown) => {
    try {
      run()
    } catch (err) {
      throw new Error(
        `accepted update fails to ${what}: ${err instanceof Error ? err.message : String(err)}`,
        {
          cause: err,
        },
      )
    }
  }
  step('merge', () => Y.mergeUpdates([u, Uint8Array.from([0, 0])]))
  step('merge with its dependencies', () => Y.mergeUpdates([base, u]))
  step('give a state vector', () => Y.encodeStateVectorFromUpdate(u))
  step('diff', () => Y.diffUpdate(u, Y.encodeStateVectorFromUpdate(base)))
  for (const gc of [true, false]) {
    step(`apply to a fresh document (gc ${gc})`, () => applyTo(gc, u))
    step(`apply onto its dependencies (gc ${gc})`, () => applyTo(gc, base, u))
    step(`apply merged with its dependencies (gc ${gc})`, () => applyTo(gc, Y.mergeUpdates([base, u])))
  }
}

/** One differential case from `seed`: a generated or a real update, perhaps mutated. */
export const hostileCase = (corpus: Corpus, seed: number): Uint8Array => {
  const r = prng(seed)
  const source = r() < 0.5 ? generateUpdate(r) : pick(r, corpus.samples)
  return r() < 0.7 ? mutate(r, source) : source
}

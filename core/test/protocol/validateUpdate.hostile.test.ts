import fc from 'fast-check'
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import * as decoding from 'lib0/decoding'
import { MAX_NESTING_DEPTH, MAX_VALUE_DEPTH, validateUpdate } from '../../src/protocol/index.js'
import { accepts, buildCorpus, checkMergesAndApplies, hostileCase } from './hostileUpdates.js'

/** A V1 update of client 5 from clock 0 with the structs `write` writes, and an empty delete set. */
const craft = (structs: number, write: (e: encoding.Encoder) => void, ds?: (e: encoding.Encoder) => void) => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, structs > 0 ? 1 : 0)
  if (structs > 0) {
    encoding.writeVarUint(e, structs)
    encoding.writeVarUint(e, 5)
    encoding.writeVarUint(e, 0)
    write(e)
  }
  if (ds) ds(e)
  else encoding.writeVarUint(e, 0)
  return encoding.toUint8Array(e)
}
/** An item without origins in root type `name` (info byte `ref`), then its content written by `content`. */
const rootItem =
  (ref: number, content: (e: encoding.Encoder) => void, key?: string) => (e: encoding.Encoder) => {
    encoding.writeUint8(e, ref | (key !== undefined ? 0x20 : 0))
    encoding.writeVarUint(e, 1)
    encoding.writeVarString(e, 'm')
    if (key !== undefined) encoding.writeVarString(e, key)
    content(e)
  }

/** The bytes \`write\` writes for one value of nesting \`depth\`. */
const encodeAny = (write: (e: encoding.Encoder, depth: number) => void, depth: number) => {
  const e = encoding.createEncoder()
  write(e, depth)
  return encoding.toUint8Array(e)
}

const rejected = (u: Uint8Array) =>
  expect(() => validateUpdate(u, { strings: true })).toThrow(
    expect.objectContaining({ code: 'invalid-update' }),
  )

/** Yjs itself fails on `u` (the reason it must be rejected). */
const yjsFails = (u: Uint8Array) => {
  let failed = false
  try {
    Y.mergeUpdates([u, Uint8Array.from([0, 0])])
    const doc = new Y.Doc()
    Y.applyUpdate(doc, u)
  } catch {
    failed = true
  }
  expect(failed).toBe(true)
}

describe('validateUpdate against hostile writers (issue 17)', () => {
  it('SYNC-3.5 a subdocument whose options are null is refused (Y.mergeUpdates throws a TypeError on it)', () => {
    const poison = craft(
      1,
      rootItem(
        9,
        (e) => {
          encoding.writeVarString(e, 'guid')
          encoding.writeAny(e, null)
        },
        'k',
      ),
    )
    yjsFails(poison)
    rejected(poison)
    for (const options of [[], 5, 'x', { guid: 7 }, { gcFilter: 1 }, { shouldLoad: 1 }]) {
      rejected(
        craft(
          1,
          rootItem(
            9,
            (e) => {
              encoding.writeVarString(e, 'guid')
              encoding.writeAny(e, options as never)
            },
            'k',
          ),
        ),
      )
    }
    const doc = new Y.Doc()
    doc.getMap('m').set('sub', new Y.Doc({ gc: false, autoLoad: true, meta: { a: [1] } }))
    expect(() => validateUpdate(Y.encodeStateAsUpdate(doc), { strings: true })).not.toThrow()
  })

  it('SYNC-3.4 with { strings: true } a string is accepted exactly when it is UTF-8, and counted in UTF-16 units', () => {
    const utf8 = new TextDecoder('utf-8', { fatal: true })
    // Mostly ASCII with some high bytes: valid multi-byte characters, stray continuations, overlongs, surrogates.
    const byte = fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
      { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0xff }) },
    )
    const text = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 12 }).map((b) => b.map((x) => (x & 0x7f) | 0x20)),
      fc.array(byte, { minLength: 1, maxLength: 12 }).map((b) => Uint8Array.from(b)),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }).map((t) => new TextEncoder().encode(t)),
    )
    fc.assert(
      fc.property(text, (bytes) => {
        // A string item, then an item whose origin is the string's last clock unit (or, wrongly, the item itself).
        const update = (originClock: number) =>
          craft(2, (e) => {
            rootItem(4, (c) => encoding.writeVarUint8Array(c, bytes))(e)
            encoding.writeUint8(e, 0x80 | 4)
            encoding.writeVarUint(e, 5)
            encoding.writeVarUint(e, originClock)
            encoding.writeVarString(e, 'x')
          })
        let units: number
        try {
          units = utf8.decode(bytes).length
        } catch {
          rejected(update(0))
          return
        }
        expect(() => validateUpdate(update(units - 1), { strings: true })).not.toThrow()
        rejected(update(units))
      }),
      { numRuns: 2000 },
    )
  })

  it('SYNC-3.5 zero-length structs, contents and delete ranges are refused', () => {
    const deleted0 = craft(
      1,
      rootItem(1, (e) => encoding.writeVarUint(e, 0)),
    )
    yjsFails(deleted0)
    rejected(deleted0)
    const range0 = craft(
      0,
      () => undefined,
      (e) => {
        encoding.writeVarUint(e, 1)
        encoding.writeVarUint(e, 5)
        encoding.writeVarUint(e, 1)
        encoding.writeVarUint(e, 0)
        encoding.writeVarUint(e, 0)
      },
    )
    yjsFails(range0)
    rejected(range0)
    rejected(
      craft(
        1,
        rootItem(4, (e) => encoding.writeVarString(e, '')),
      ),
    )
    rejected(
      craft(
        1,
        rootItem(8, (e) => encoding.writeVarUint(e, 0)),
      ),
    )
    rejected(
      craft(
        1,
        rootItem(2, (e) => encoding.writeVarUint(e, 0)),
      ),
    )
    for (const ref of [0, 10]) {
      rejected(
        craft(1, (e) => {
          encoding.writeUint8(e, ref)
          encoding.writeVarUint(e, 0)
        }),
      )
    }
  })

  it('SYNC-3.5 a GC or skip struct with flag bits is refused (Yjs reads it as an item when merging)', () => {
    const skipWithFlag = craft(2, (e) => {
      encoding.writeUint8(e, 10 | 0x80)
      encoding.writeVarUint(e, 1)
      encoding.writeVarUint(e, 1)
      encoding.writeUint8(e, 4)
      encoding.writeVarUint(e, 1)
      encoding.writeVarString(e, 'm')
      encoding.writeVarString(e, 'x')
    })
    rejected(skipWithFlag)
  })

  it('SYNC-3.5 an item whose origin, right origin or parent is itself (or later in its client) is refused', () => {
    const cases = [
      // origin (5, 0): the item itself
      (e: encoding.Encoder) => {
        encoding.writeUint8(e, 4 | 0x80)
        encoding.writeVarUint(e, 5)
        encoding.writeVarUint(e, 0)
        encoding.writeVarString(e, 'ab')
      },
      // right origin (5, 1): inside the item
      (e: encoding.Encoder) => {
        encoding.writeUint8(e, 4 | 0x40)
        encoding.writeVarUint(e, 5)
        encoding.writeVarUint(e, 1)
        encoding.writeVarString(e, 'ab')
      },
      // parent (5, 0): the item itself
      (e: encoding.Encoder) => {
        encoding.writeUint8(e, 7)
        encoding.writeVarUint(e, 0)
        encoding.writeVarUint(e, 5)
        encoding.writeVarUint(e, 0)
        encoding.writeVarUint(e, 1)
      },
      // origin (5, 9): later in the same client
      (e: encoding.Encoder) => {
        encoding.writeUint8(e, 4 | 0x80)
        encoding.writeVarUint(e, 5)
        encoding.writeVarUint(e, 9)
        encoding.writeVarString(e, 'ab')
      },
    ]
    for (const write of cases) {
      const u = craft(1, write)
      yjsFails(u)
      rejected(u)
    }
  })

  it(`SYNC-3.5 types nested deeper than ${MAX_NESTING_DEPTH} are refused (a deletion overflows the stack in Yjs)`, () => {
    const nested = (depth: number) => {
      const doc = new Y.Doc({ gc: false })
      let map = doc.getMap('root')
      doc.transact(() => {
        for (let i = 0; i < depth; i++) {
          const next = new Y.Map<unknown>()
          map.set('k', next)
          map = next
        }
      })
      return doc
    }
    const deep = nested(20_000)
    const state = Y.encodeStateAsUpdate(deep)
    expect(() => deep.getMap('root').delete('k')).toThrow(RangeError)
    rejected(state)
    expect(validateUpdate(Y.encodeStateAsUpdate(nested(MAX_NESTING_DEPTH))).depth).toBe(MAX_NESTING_DEPTH)
    rejected(Y.encodeStateAsUpdate(nested(MAX_NESTING_DEPTH + 1)))
    // Nesting through overwritten keys (items that name their parent through an origin) counts the same.
    const doc = new Y.Doc()
    const a = doc.getMap('root')
    const inner = new Y.Map<unknown>()
    a.set('k', 1)
    a.set('k', inner)
    inner.set('x', new Y.Array())
    expect(validateUpdate(Y.encodeStateAsUpdate(doc)).depth).toBe(2)
  })

  it(`SYNC-3.5 plain values nested deeper than ${MAX_VALUE_DEPTH} are refused, however warm the stack (any, subdocument options, JSON)`, () => {
    /** lib0's \`any\` encoding of \`depth\` arrays each holding the next (the innermost holds null), written without recursion. */
    const anyArrays = (e: encoding.Encoder, depth: number) => {
      for (let i = 0; i < depth; i++) {
        encoding.writeUint8(e, 117)
        encoding.writeVarUint(e, 1)
      }
      encoding.writeUint8(e, 126)
    }
    /** The same as an object with key "n" at each level. */
    const anyObjects = (e: encoding.Encoder, depth: number) => {
      for (let i = 0; i < depth; i++) {
        encoding.writeUint8(e, 118)
        encoding.writeVarUint(e, 1)
        encoding.writeVarString(e, 'n')
      }
      encoding.writeUint8(e, 126)
    }
    const anyValue = (write: (e: encoding.Encoder, depth: number) => void, depth: number) =>
      craft(
        1,
        rootItem(
          8,
          (e) => {
            encoding.writeVarUint(e, 1)
            write(e, depth)
          },
          'k',
        ),
      )
    const subdocMeta = (depth: number) =>
      craft(
        1,
        rootItem(
          9,
          (e) => {
            encoding.writeVarString(e, 'guid')
            encoding.writeUint8(e, 118)
            encoding.writeVarUint(e, 1)
            encoding.writeVarString(e, 'meta')
            anyArrays(e, depth - 1)
          },
          'k',
        ),
      )
    const json = (depth: number) => '['.repeat(depth) + ']'.repeat(depth)
    const jsonContent = (text: string) =>
      craft(
        1,
        rootItem(2, (e) => {
          encoding.writeVarUint(e, 1)
          encoding.writeVarString(e, text)
        }),
      )
    const embed = (text: string) =>
      craft(
        1,
        rootItem(5, (e) => encoding.writeVarString(e, text)),
      )
    const format = (text: string) =>
      craft(
        1,
        rootItem(6, (e) => {
          encoding.writeVarString(e, 'bold')
          encoding.writeVarString(e, text)
        }),
      )
    // Why: a stock client's decoder (lib0's readAny) recurses per level; 20,000 levels overflow any stack, and where
    // between 2,000 and 7,000 it starts to fail depended on the reader's stack (a warmed-up relay accepted 5,500).
    expect(() => decoding.readAny(decoding.createDecoder(encodeAny(anyArrays, 20_000)))).toThrow(RangeError)
    for (const write of [anyArrays, anyObjects]) {
      expect(() => validateUpdate(anyValue(write, MAX_VALUE_DEPTH), { strings: true })).not.toThrow()
      expect(() => validateUpdate(anyValue(write, MAX_VALUE_DEPTH), { skim: true })).not.toThrow()
      for (const depth of [MAX_VALUE_DEPTH + 1, 5_500, 20_000]) {
        rejected(anyValue(write, depth))
        expect(() => validateUpdate(anyValue(write, depth), { skim: true })).toThrow(/nested deeper/)
      }
    }
    expect(() => validateUpdate(subdocMeta(MAX_VALUE_DEPTH))).not.toThrow()
    rejected(subdocMeta(MAX_VALUE_DEPTH + 1))
    rejected(subdocMeta(20_000))
    for (const content of [jsonContent, embed, format]) {
      expect(() => validateUpdate(content(json(MAX_VALUE_DEPTH)))).not.toThrow()
      rejected(content(json(MAX_VALUE_DEPTH + 1)))
      rejected(content(json(20_000)))
      // Brackets inside strings are text, not nesting.
      expect(() =>
        validateUpdate(content(JSON.stringify({ s: '['.repeat(5_000) + '\\"' + '{'.repeat(10) }))),
      ).not.toThrow()
    }
    // A real document's values at the bound round-trip through Yjs.
    let value: unknown = null
    for (let i = 0; i < MAX_VALUE_DEPTH; i++) value = { n: value }
    const doc = new Y.Doc()
    doc.getMap('m').set('k', value)
    expect(() => validateUpdate(Y.encodeStateAsUpdate(doc), { strings: true })).not.toThrow()
    doc.getMap('m').set('k', { n: value })
    rejected(Y.encodeStateAsUpdate(doc))
  })

  it('SYNC-3.5 differential: every update validateUpdate accepts merges and applies cleanly, alone and onto its dependencies', () => {
    const corpus = buildCorpus()
    for (const real of corpus.samples) expect(accepts(real)).toBe(true)
    const error = console.error
    console.error = () => undefined // Yjs warns about subdocuments integrated twice
    try {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
          const u = hostileCase(corpus, seed)
          if (accepts(u)) checkMergesAndApplies(u, corpus.base)
        }),
        { numRuns: 1500, seed: 17 },
      )
    } finally {
      console.error = error
    }
  })
})

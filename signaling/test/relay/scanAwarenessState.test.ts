import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeAwarenessState, MAX_AWARENESS_DEPTH } from '@weft/core/protocol'
import { scanAwarenessState } from '../../src/relay/scanAwarenessState.js'

const utf8 = new TextEncoder()

/** What the checked decoding says of `bytes`: 'null', 'value', or 'refused' (it throws). */
const checked = (bytes: Uint8Array): 'null' | 'value' | 'refused' => {
  try {
    return decodeAwarenessState(bytes) === null ? 'null' : 'value'
  } catch {
    return 'refused'
  }
}

/** The scan never claims more than the checked decoding accepts, and never reads `null` differently. */
const agrees = (bytes: Uint8Array): void => {
  const scan = scanAwarenessState(bytes)
  if (scan !== 'unsure') expect(checked(bytes)).toBe(scan)
}

/** JSON-ish text: the characters the grammar turns on, and a few it does not allow. */
const jsonish = fc
  .array(
    fc.constantFrom(
      ...'{}[],:"\\/ubfnrt0123456789-+.eE aé\n\t\r'.split(''),
      'null',
      'true',
      'false',
      '\u0001',
      '\u00a0',
      '\ufeff',
      '\ud800',
    ),
    { maxLength: 40 },
  )
  .map((parts) => parts.join(''))

const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth)

describe('scanAwarenessState: news checked to be JSON in one pass over its bytes (RELAY-6.4)', () => {
  it('RELAY-6.4: says what JSON.parse says of every JSON value (null and any other), with or without whitespace', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.boolean(), (value, spaced) => {
        const text = spaced ? ` \n${JSON.stringify(value, null, 2)}\t\r ` : JSON.stringify(value)
        expect(scanAwarenessState(utf8.encode(text))).toBe(value === null ? 'null' : 'value')
      }),
      { numRuns: 2000 },
    )
  })

  it('RELAY-6.4: never accepts what the checked decoding refuses (JSON-ish text, mutated JSON, raw bytes)', () => {
    fc.assert(
      fc.property(jsonish, (text) => agrees(utf8.encode(text))),
      { numRuns: 5000 },
    )
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 4 }),
        fc.nat(),
        fc.constantFrom('delete', 'insert', 'replace'),
        fc.oneof(
          fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)),
          fc.constantFrom('é', '\u00a0', '\ufeff', '\ud800'),
        ),
        (value, at, edit, c) => {
          const text = JSON.stringify(value)
          const i = at % (text.length + 1)
          const mutated =
            edit === 'delete'
              ? text.slice(0, i) + text.slice(i + 1)
              : edit === 'insert'
                ? text.slice(0, i) + c + text.slice(i)
                : text.slice(0, i) + c + text.slice(i + 1)
          agrees(utf8.encode(mutated))
        },
      ),
      { numRuns: 15_000 },
    )
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (bytes) => agrees(bytes)),
      { numRuns: 5000 },
    )
  })

  it('RELAY-6.4: leaves to the checked decoding what it cannot settle alone (depth, UTF-8, a byte-order mark)', () => {
    expect(scanAwarenessState(utf8.encode(nested(MAX_AWARENESS_DEPTH)))).toBe('value')
    expect(scanAwarenessState(utf8.encode(nested(MAX_AWARENESS_DEPTH + 1)))).toBe('unsure')
    expect(checked(utf8.encode(nested(MAX_AWARENESS_DEPTH + 1)))).toBe('refused')
    // Invalid UTF-8 inside a string; a byte-order mark (the checked decoding drops it, then reads the text).
    expect(scanAwarenessState(new Uint8Array([0x22, 0xc3, 0x28, 0x22]))).toBe('unsure')
    expect(scanAwarenessState(new Uint8Array([0xef, 0xbb, 0xbf, ...utf8.encode('null')]))).toBe('unsure')
    for (const text of [
      '',
      ' ',
      'nul',
      'nulll',
      '01',
      '1.',
      '-',
      '.5',
      '1e',
      '"\\u12"',
      '"a\u0001"',
      '{"a"}',
      '[1,]',
      '{"a":1,}',
    ])
      expect(scanAwarenessState(utf8.encode(text)), text).toBe('unsure')
    for (const text of ['null', ' null ', '0', '-0.5e+3', '"\\u00e9\\n"', '{"a":[1,{"b":null}]}', '[]', '{}'])
      expect(scanAwarenessState(utf8.encode(text)), text).toBe(text.trim() === 'null' ? 'null' : 'value')
  })
})

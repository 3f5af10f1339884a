import { isUtf8 } from 'node:buffer'
import { MAX_AWARENESS_DEPTH } from '@weft/core/protocol'

/**
 * What {@link scanAwarenessState} found: `'value'` (JSON text of a value other than `null`), `'null'` (the JSON text
 * `null`, a removal, whatever whitespace surrounds it), or `'unsure'`: anything else (not JSON, not UTF-8, nested
 * deeper than `MAX_AWARENESS_DEPTH`, a byte-order mark), for the checked decoding (`decodeAwarenessState`) to decide.
 */
export type AwarenessStateScan = 'value' | 'null' | 'unsure'

const ARRAY = 1
const OBJECT = 2
/** Whether each open level is an array or an object (one scan at a time: the relay is single-threaded). */
const levels = new Uint8Array(MAX_AWARENESS_DEPTH + 1)

const isSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39
const isHex = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)

const skipSpace = (b: Uint8Array, i: number): number => {
  while (i < b.length && isSpace(b[i] as number)) i++
  return i
}

/** End of the string starting at `i` (a `"`), or -1 if it is not a JSON string. */
const skipString = (b: Uint8Array, i: number): number => {
  const n = b.length
  i++
  while (i < n) {
    const c = b[i] as number
    if (c === 0x22) return i + 1
    if (c < 0x20) return -1
    if (c !== 0x5c) {
      i++
      continue
    }
    const e = b[i + 1]
    if (
      e === 0x22 ||
      e === 0x5c ||
      e === 0x2f ||
      e === 0x62 ||
      e === 0x66 ||
      e === 0x6e ||
      e === 0x72 ||
      e === 0x74
    )
      i += 2
    else if (
      e === 0x75 &&
      isHex(b[i + 2] ?? -1) &&
      isHex(b[i + 3] ?? -1) &&
      isHex(b[i + 4] ?? -1) &&
      isHex(b[i + 5] ?? -1)
    )
      i += 6
    else return -1
  }
  return -1
}

/** End of the number starting at `i`, or -1 if it is not a JSON number. */
const skipNumber = (b: Uint8Array, i: number): number => {
  if (b[i] === 0x2d) i++
  if (b[i] === 0x30) i++
  else if (isDigit(b[i] ?? -1)) while (isDigit(b[i] ?? -1)) i++
  else return -1
  if (b[i] === 0x2e) {
    i++
    if (!isDigit(b[i] ?? -1)) return -1
    while (isDigit(b[i] ?? -1)) i++
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++
    if (b[i] === 0x2b || b[i] === 0x2d) i++
    if (!isDigit(b[i] ?? -1)) return -1
    while (isDigit(b[i] ?? -1)) i++
  }
  return i
}

/** End of `word` (ASCII) if it starts at `i`, else -1. */
const skipWord = (b: Uint8Array, i: number, word: string): number => {
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word.charCodeAt(k)) return -1
  return i + word.length
}

/**
 * Checks that `bytes` are the UTF-8 JSON text of an awareness state in one pass over the bytes, building nothing: no
 * string, no value (RELAY-6.4: news is checked to be JSON, as clients parse what they are sent). Never says
 * `'value'` or `'null'` for text that `JSON.parse` (after checked UTF-8 decoding) would refuse or read differently;
 * whatever it is not sure of is `'unsure'`.
 */
export const scanAwarenessState = (bytes: Uint8Array): AwarenessStateScan => {
  const b = bytes
  let depth = 0
  let i = skipSpace(b, 0)
  let isNull = false
  for (;;) {
    // A value starts at i.
    const c = b[i]
    if (c === 0x7b || c === 0x5b) {
      if (depth === MAX_AWARENESS_DEPTH) return 'unsure'
      levels[++depth] = c === 0x7b ? OBJECT : ARRAY
      i = skipSpace(b, i + 1)
      if (b[i] === (c === 0x7b ? 0x7d : 0x5d)) {
        depth--
        i++
      } else {
        if (c === 0x7b) {
          // The first key.
          if (b[i] !== 0x22) return 'unsure'
          i = skipString(b, i)
          if (i < 0) return 'unsure'
          i = skipSpace(b, i)
          if (b[i] !== 0x3a) return 'unsure'
          i = skipSpace(b, i + 1)
        }
        continue
      }
    } else if (c === 0x22) i = skipString(b, i)
    else if (c === 0x2d || isDigit(c ?? -1)) i = skipNumber(b, i)
    else if (c === 0x74) i = skipWord(b, i, 'true')
    else if (c === 0x66) i = skipWord(b, i, 'false')
    else if (c === 0x6e) {
      i = skipWord(b, i, 'null')
      isNull = depth === 0
    } else return 'unsure'
    if (i < 0) return 'unsure'
    // After a value: close the levels it ends, or move to the next element or member.
    for (;;) {
      i = skipSpace(b, i)
      if (depth === 0) {
        if (i !== b.length || !isUtf8(b)) return 'unsure'
        return isNull ? 'null' : 'value'
      }
      const level = levels[depth]
      const d = b[i]
      if (d === (level === OBJECT ? 0x7d : 0x5d)) {
        depth--
        i++
        continue
      }
      if (d !== 0x2c) return 'unsure'
      i = skipSpace(b, i + 1)
      if (level === OBJECT) {
        if (b[i] !== 0x22) return 'unsure'
        i = skipString(b, i)
        if (i < 0) return 'unsure'
        i = skipSpace(b, i)
        if (b[i] !== 0x3a) return 'unsure'
        i = skipSpace(b, i + 1)
      }
      break
    }
  }
}

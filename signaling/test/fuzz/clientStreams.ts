import { int, pick, prng, type Rand } from './prng.js'

/**
 * Generated client-to-server WebSocket byte streams for the differential fuzz against `ws` (CONN-9.5): mostly
 * well-formed frames with every kind of protocol error mixed in, then byte mutations, truncation and a random split
 * into socket reads. A stream depends only on its seed.
 */

/** One frame as written on the wire, including every field a broken client could get wrong. */
export interface FrameSpec {
  fin: boolean
  /** RSV1-3 as the 3-bit value of bits 6-4 of the first byte. */
  rsv: number
  opcode: number
  masked: boolean
  /** Masking key (4 bytes), used when `masked`. */
  key: Uint8Array
  payload: Uint8Array
  /** Length encoding: the shortest (RFC 6455), or a longer one than needed (16- or 64-bit). */
  form: 'min' | '16' | '64'
  /** Length written in the header when it is not the payload's (a lie: the stream's next bytes become payload). */
  declared?: number
  /** Upper 32 bits of a 64-bit length, replacing the declared length's (e.g. with the top bit set). */
  high?: number
}

/** A fuzz case: the bytes a client sends, where they are split into reads, and the server's maximum message size. */
export interface ClientStream {
  readonly seed: number
  readonly maxPayload: number
  readonly bytes: Buffer
  /** Ascending offsets inside `bytes` where a socket read ends (the last read ends at `bytes.length`). */
  readonly splits: readonly number[]
  /** Whether the server holds parsing after each delivered frame and releases it at the next read (CONN-2.1). */
  readonly holds: boolean
  /**
   * The read before which the server starts its close handshake (sends its close frame, CONN-6), if it does: from
   * then on its parser skips data (CONN-9.5.1). Never together with `holds`.
   */
  readonly serverCloseAt?: number
}

/** Opcodes (RFC 6455 §5.2). */
export const OP = { cont: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const

/** Maximum message sizes the fuzz configures both parsers with (never 0: `ws` reads that as no limit). */
export const MAX_PAYLOADS = [125, 126, 1000, 65535, 65536, 70000, 1 << 20] as const

/** Encodes one client frame exactly as `spec` says (masking the payload with its key). */
export const encodeClientFrame = (spec: FrameSpec): Buffer => {
  const length = spec.declared ?? spec.payload.length
  const form = spec.form === '16' && length > 0xffff ? '64' : spec.form
  const len7 =
    form === '64' ? 127 : form === '16' ? 126 : length < 126 ? length : length <= 0xffff ? 126 : 127
  const ext = len7 === 126 ? 2 : len7 === 127 ? 8 : 0
  const out = Buffer.alloc(2 + ext + (spec.masked ? 4 : 0) + spec.payload.length)
  out[0] = (spec.fin ? 0x80 : 0) | ((spec.rsv & 7) << 4) | (spec.opcode & 0x0f)
  out[1] = (spec.masked ? 0x80 : 0) | len7
  if (len7 === 126) out.writeUInt16BE(length, 2)
  if (len7 === 127) {
    out.writeUInt32BE(spec.high ?? Math.floor(length / 0x100000000), 2)
    out.writeUInt32BE(length >>> 0, 6)
  }
  let at = 2 + ext
  if (spec.masked) {
    out.set(spec.key, at)
    at += 4
  }
  for (let i = 0; i < spec.payload.length; i++)
    out[at + i] = (spec.payload[i] as number) ^ (spec.masked ? (spec.key[i & 3] as number) : 0)
  return out
}

const randomBytes = (r: Rand, n: number): Uint8Array => {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i += 4) {
    const w = Math.floor(r() * 0x100000000)
    for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (w >>> (8 * j)) & 0xff
  }
  return out
}

const utf8 = new TextEncoder()

/** Valid UTF-8 of `n` bytes or up to 3 more: ASCII runs with 2-, 3- and 4-byte characters between them. */
const validText = (r: Rand, n: number): Uint8Array => {
  const parts: Uint8Array[] = []
  let length = 0
  // Long payloads get long ASCII runs (generating every character would be too slow).
  const run = n > 512 ? 256 : 4
  while (length < n) {
    const k = r()
    const part =
      k < 0.7
        ? Buffer.alloc(1 + int(r, run - 1), 0x20 + int(r, 94))
        : utf8.encode(
            k < 0.8
              ? String.fromCharCode(0x80 + int(r, 0x77f))
              : k < 0.95
                ? String.fromCharCode(0x800 + int(r, 0xd7ff - 0x800))
                : String.fromCodePoint(0x10000 + int(r, 0xfffff)),
          )
    parts.push(part)
    length += part.length
  }
  return Buffer.concat(parts)
}

/** Byte sequences that are not UTF-8 (RFC 3629): stray continuation bytes, overlongs, surrogates, > U+10FFFF. */
const INVALID_UTF8: readonly number[][] = [
  [0x80],
  [0xbf],
  [0xc0, 0x80],
  [0xc1, 0xbf],
  [0xe0, 0x80, 0x80],
  [0xe0, 0x9f, 0xbf],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xf0, 0x80, 0x80, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf5, 0x80, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xfe],
  [0xff],
  [0xc3],
  [0xe2, 0x82],
  [0xf0, 0x9f, 0x98],
  [0xc3, 0x28],
  [0xe2, 0x28, 0xa1],
]

/** Text with one invalid sequence at a random place (or, at the end, a character cut short). */
const invalidText = (r: Rand, n: number): Uint8Array => {
  const good = validText(r, Math.min(n, 200))
  const bad = pick(r, INVALID_UTF8)
  const at = int(r, good.length)
  // Insert at a character boundary of the valid text.
  let cut = at
  while (cut > 0 && ((good[cut] ?? 0) & 0xc0) === 0x80) cut--
  return Uint8Array.from([...good.subarray(0, cut), ...bad, ...good.subarray(cut)])
}

/** A payload length: mostly small, often at a boundary of the length encoding or of the maximum size. */
const payloadLength = (r: Rand, maxPayload: number): number => {
  const k = r()
  if (k < 0.6) return int(r, 40)
  if (k < 0.8) return int(r, 300)
  const boundaries = [
    0,
    1,
    124,
    125,
    126,
    127,
    65535,
    65536,
    65537,
    maxPayload - 1,
    maxPayload,
    maxPayload + 1,
  ]
  // Boundaries above 70,000 bytes are kept for lengths a header declares, not for payloads actually sent.
  return Math.min(pick(r, boundaries), 70_000)
}

const CLOSE_CODES = [
  0, 1, 999, 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1015,
  1016, 1100, 2000, 2999, 3000, 3999, 4000, 4001, 4999, 5000, 0x7fff, 0xffff,
]

const VALID_CLOSE_CODES = [
  1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999,
]

/**
 * Generates the frames of one logical unit of the stream: a message, a control frame or (unless the stream is
 * `clean`) a broken frame.
 */
const unit = (r: Rand, maxPayload: number, clean: boolean): FrameSpec[] => {
  /** Whether to break the rule this time: with probability `p`, never in a clean stream. */
  const odd = (p: number): boolean => !clean && r() < p
  const frame = (opcode: number, payload: Uint8Array, fin = true): FrameSpec => ({
    fin,
    rsv: 0,
    opcode,
    masked: true,
    key: r() < 0.05 ? new Uint8Array(4) : randomBytes(r, 4),
    payload,
    form: 'min',
  })
  const control = (): FrameSpec => {
    const k = r()
    const size = (): number => (odd(0.1) ? 126 + int(r, 4) : int(r, 125))
    if (k < 0.4) return frame(OP.ping, randomBytes(r, size()))
    if (k < 0.8) return frame(OP.pong, randomBytes(r, size()))
    if (odd(0.3)) return frame(pick(r, [OP.ping, OP.pong, OP.close]), randomBytes(r, int(r, 20)), false)
    // A close frame: empty, one byte, a code, a code and a reason (valid or not).
    const c = r()
    if (c < 0.15) return frame(OP.close, new Uint8Array(0))
    if (odd(0.1)) return frame(OP.close, randomBytes(r, 1))
    const code = clean ? pick(r, VALID_CLOSE_CODES) : r() < 0.5 ? pick(r, CLOSE_CODES) : int(r, 0xffff)
    const reason =
      c < 0.5 ? new Uint8Array(0) : odd(0.3) ? invalidText(r, int(r, 60)) : validText(r, int(r, 120))
    const payload = Buffer.alloc(2 + reason.length)
    payload.writeUInt16BE(code, 0)
    payload.set(reason, 2)
    return frame(OP.close, odd(0.05) ? Buffer.concat([payload, randomBytes(r, 124)]) : payload)
  }
  const k = r()
  if (k < 0.55 || (clean && k < 0.85)) {
    // A data message, possibly fragmented, control frames between its fragments.
    const binary = r() < 0.5
    const n = payloadLength(r, maxPayload)
    const payload = binary ? randomBytes(r, n) : odd(0.15) ? invalidText(r, n) : validText(r, n)
    const cuts =
      r() < 0.6
        ? []
        : Array.from({ length: 1 + int(r, 3) }, () => int(r, payload.length)).sort((a, b) => a - b)
    const bounds = [0, ...cuts, payload.length]
    const out: FrameSpec[] = []
    for (let i = 0; i + 1 < bounds.length; i++) {
      const last = i + 2 === bounds.length
      out.push(
        frame(
          i === 0 ? (binary ? OP.binary : OP.text) : OP.cont,
          payload.subarray(bounds[i], bounds[i + 1]),
          last,
        ),
      )
      if (!last && r() < 0.3) out.push(control())
    }
    // Broken fragmentation: the final fragment missing (the next message starts inside this one).
    if (out.length > 1 && odd(0.1)) out.pop()
    return out
  }
  if (k < 0.8 || clean) return [control()]
  if (k < 0.85) return [frame(OP.cont, randomBytes(r, int(r, 20)), r() < 0.5)]
  if (k < 0.9) return [frame(pick(r, [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]), randomBytes(r, int(r, 20)))]
  // A header that declares a length far from what follows: over the maximum, 64-bit, the top bit set.
  const f = frame(
    pick(r, [OP.text, OP.binary, OP.cont, OP.ping, OP.close]),
    randomBytes(r, int(r, 30)),
    r() < 0.8,
  )
  const d = r()
  if (d < 0.3) f.declared = maxPayload + 1 + int(r, 10)
  else if (d < 0.5) f.declared = pick(r, [125, 126, 127, 65535, 65536, 0x100000000, 2 ** 53 - 1])
  else if (d < 0.7) {
    f.form = '64'
    f.high = pick(r, [0x80000000, 0xffffffff, 0x1fffff, 0x200000, 0x7fffffff, 1])
  } else f.form = pick(r, ['16', '64'])
  return [f]
}

/**
 * The stream for `seed`: frames (a third of the streams well-formed throughout), then (in the others, sometimes)
 * header tweaks and byte mutations; then (sometimes) truncation, and the read splits.
 */
export const clientStream = (seed: number): ClientStream => {
  const r = prng(seed)
  const maxPayload = pick(r, MAX_PAYLOADS)
  const clean = r() < 0.35
  const specs: FrameSpec[] = []
  for (let units = 1 + int(r, 7); units > 0; units--) specs.push(...unit(r, maxPayload, clean))
  for (const spec of clean ? [] : specs) {
    if (r() < 0.02) spec.rsv = 1 + int(r, 6)
    if (r() < 0.02) spec.masked = false
    if (r() < 0.04) spec.form = pick(r, ['16', '64'])
  }
  let bytes = Buffer.concat(specs.map(encodeClientFrame))
  if (!clean && r() < 0.25) {
    const b = Buffer.from(bytes)
    for (let m = 1 + int(r, 2); m > 0 && b.length > 0; m--) {
      const at = int(r, b.length - 1)
      b[at] = r() < 0.5 ? int(r, 255) : (b[at] as number) ^ (1 << int(r, 7))
    }
    bytes = b
    if (r() < 0.3) {
      const at = int(r, bytes.length)
      bytes = Buffer.concat([
        bytes.subarray(0, at),
        Buffer.from(randomBytes(r, 1 + int(r, 3))),
        bytes.subarray(at),
      ])
    }
  }
  if (r() < 0.3) bytes = bytes.subarray(0, int(r, bytes.length))
  const splits = splitsFor(r, bytes.length)
  const holds = r() < 0.2
  if (holds || r() < 0.8) return { seed, maxPayload, bytes, splits, holds }
  return { seed, maxPayload, bytes, splits, holds, serverCloseAt: int(r, splits.length) }
}

/** Where reads end: one read, a few random ones, or (short streams) one byte per read. */
const splitsFor = (r: Rand, length: number): number[] => {
  const k = r()
  if (k < 0.25 || length < 2) return []
  if (k < 0.35 && length <= 1024) return Array.from({ length: length - 1 }, (_, i) => i + 1)
  const cuts = new Set<number>()
  for (let n = 1 + int(r, 6); n > 0; n--) cuts.add(1 + int(r, length - 2))
  return [...cuts].sort((a, b) => a - b)
}

/** `stream` cut after `length` bytes (its reads cut to match). */
export const truncated = (stream: ClientStream, length: number): ClientStream => ({
  ...stream,
  bytes: stream.bytes.subarray(0, length),
  splits: stream.splits.filter((s) => s < length),
})

/** The reads of `stream`, each a fresh copy (both parsers unmask in place). */
export const readsOf = (stream: ClientStream): Buffer[] => {
  const ends = [...stream.splits, stream.bytes.length]
  const out: Buffer[] = []
  let from = 0
  for (const end of ends) {
    if (end > from) out.push(Buffer.from(stream.bytes.subarray(from, end)))
    from = end
  }
  return out
}

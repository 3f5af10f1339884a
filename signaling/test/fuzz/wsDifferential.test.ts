import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  OP,
  clientStream,
  encodeClientFrame,
  truncated,
  type ClientStream,
  type FrameSpec,
} from './clientStreams.js'
import {
  INTENDED_DIFFERENCES,
  checkStream,
  runFrameParser,
  runSeeds,
  runWsReceiver,
  type ParseOutcome,
} from './wsDifferential.js'

/** Seeds per CI run (a few seconds); `npm run fuzz -- --mode websocket --seeds 100000` for the full run. */
const SEEDS = Number(process.env['WEFT_WS_FUZZ_SEEDS'] ?? 4000)

const KEY = Uint8Array.from([0x37, 0xfa, 0x21, 0x3d])

/** A masked, final, shortest-length frame, with fields overridden by `spec`. */
const frame = (opcode: number, payload: Uint8Array | string, spec: Partial<FrameSpec> = {}): Buffer =>
  encodeClientFrame({
    fin: true,
    rsv: 0,
    opcode,
    masked: true,
    key: KEY,
    payload: typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload,
    form: 'min',
    ...spec,
  })

/** A hand-written case: `bytes` in reads ending at `splits`, with the default 1 MiB maximum. */
const stream = (bytes: Buffer, splits: number[] = [], maxPayload = 1 << 20): ClientStream => ({
  seed: 0,
  maxPayload,
  bytes,
  splits,
  holds: false,
})

/** The outcome as plain values: each event as `kind:utf8-or-code`, then the error code or 'pending'. */
const summary = (o: ParseOutcome): string[] => [
  ...o.events.map((e) => (e.kind === 'close' ? `close:${e.code}` : `${e.kind}:${e.data.toString('latin1')}`)),
  o.thrown !== null ? `threw ${o.thrown}` : o.error === null ? 'open' : `error ${o.error}`,
]

/** Checks that the server's parser does exactly `expected` with `s`, and that `ws` does the same. */
const expectBoth = (s: ClientStream, expected: string[]): void => {
  expect(summary(runFrameParser(s))).toEqual(expected)
  const verdict = checkStream(s)
  expect(verdict.detail).toBeUndefined()
  expect(verdict.agree).toBe(true)
}

describe('differential fuzz against ws (CONN-9.5)', () => {
  it(`CONN-9.5: ${SEEDS} generated streams: the parser and ws's Receiver agree on every message and decision`, () => {
    const failures: string[] = []
    const stats = runSeeds(1, SEEDS, (seed, v) => failures.push(`seed ${seed}: ${v.detail ?? ''}`))
    expect(failures).toEqual([])
    // The generator reaches every kind of outcome: open streams, each protocol error, messages and close frames.
    expect(stats.errors['none']).toBeGreaterThan(SEEDS / 10)
    for (const code of ['1002', '1007', '1009']) expect(stats.errors[code]).toBeGreaterThan(SEEDS / 100)
    expect(stats.messages).toBeGreaterThan(SEEDS / 2)
    expect(stats.largeMessages).toBeGreaterThan(SEEDS / 1000)
    expect(stats.controls).toBeGreaterThan(SEEDS / 2)
    expect(stats.closes).toBeGreaterThan(SEEDS / 50)
    // Streams where the server started its close handshake, and data came after it (CONN-9.5.1).
    expect(stats.byRule['CONN-9.5.1']).toBeGreaterThan(SEEDS / 50)
  })

  it('CONN-9.5: truncated at every byte, the first 200 short streams still agree (a frame cut short is pending in both)', () => {
    const failures: string[] = []
    let checked = 0
    for (let seed = 1; checked < 200; seed++) {
      const s = clientStream(seed)
      if (s.bytes.length > 400) continue
      checked++
      for (let n = 0; n <= s.bytes.length; n++) {
        const v = checkStream(truncated(s, n))
        if (!v.agree) failures.push(`seed ${seed} cut at ${n}: ${v.detail ?? ''}`)
      }
    }
    expect(failures.slice(0, 5)).toEqual([])
  })

  it('CONN-9.5: every intended difference is a rule of the spec', () => {
    const spec = readFileSync(new URL('../../../docs/spec/signaling.md', import.meta.url), 'utf8')
    for (const d of INTENDED_DIFFERENCES) {
      expect(d.rule).toMatch(/^CONN-9\.5\.\d+$/)
      expect(spec).toContain(`**${d.rule}**`)
    }
  })

  it('CONN-9.5.1: after the server sent its close, data is skipped (ws delivers it); control frames still count', () => {
    const bad = Buffer.from([0xc3, 0x28])
    const bytes = Buffer.concat([
      frame(OP.binary, 'before'),
      frame(OP.text, 'after'),
      frame(OP.ping, 'p'),
      frame(OP.text, bad),
      frame(OP.close, Buffer.from([0x03, 0xe8, 0x6f, 0x6b])),
    ])
    const s = { ...stream(bytes, [frame(OP.binary, 'before').length]), serverCloseAt: 1 }
    // ws delivers 'after' and stops at the invalid text; the server skips both and reads on to the client's close.
    expect(summary(runWsReceiver(s))).toEqual(['binary:before', 'text:after', 'ping:p', 'error 1007'])
    expect(summary(runFrameParser(s))).toEqual(['binary:before', 'ping:p', 'close:1000', 'open'])
    expect(checkStream(s)).toMatchObject({ agree: true, rule: 'CONN-9.5.1' })
    // Not an excuse for what the server still checks: a close reason that is not UTF-8.
    const reason = Buffer.concat([frame(OP.text, 'after'), frame(OP.close, Buffer.from([0x03, 0xe8, 0xff]))])
    const r = { ...stream(reason), serverCloseAt: 0 }
    expect(summary(runFrameParser(r))).toEqual(['error 1007'])
    expect(checkStream(r)).toMatchObject({ agree: true })
    // A server that skipped that check too would not be excused.
    const ws = runWsReceiver(r)
    expect(ws.failedFrame).toMatchObject({ code: 'WS_ERR_INVALID_UTF8', opcode: OP.close })
    const lax: ParseOutcome = { events: [], error: null, thrown: null, closeStart: 0 }
    expect(INTENDED_DIFFERENCES.some((d) => d.applies(r, lax, ws))).toBe(false)
  })
})

describe('disagreements the differential fuzz found (CONN-9.5 regressions)', () => {
  it('CONN-9.2: an empty first fragment followed by a continuation is one message (was a TypeError)', () => {
    const bytes = Buffer.concat([frame(OP.text, '', { fin: false }), frame(OP.cont, 'ab')])
    expectBoth(stream(bytes), ['text:ab', 'open'])
    // The same with every split.
    for (let at = 1; at < bytes.length; at++) expectBoth(stream(bytes, [at]), ['text:ab', 'open'])
  })

  it('CONN-9.2: an empty final fragment completes its message at once, not when the next bytes arrive', () => {
    const bytes = Buffer.concat([frame(OP.binary, 'xy', { fin: false }), frame(OP.cont, '')])
    expectBoth(stream(bytes), ['binary:xy', 'open'])
    expectBoth(stream(Buffer.concat([frame(OP.text, '', { fin: false }), frame(OP.cont, '')])), [
      'text:',
      'open',
    ])
  })

  it('CONN-9.2: a control frame whose length uses the 16- or 64-bit form is a protocol error, even if under 126', () => {
    expectBoth(stream(frame(OP.ping, 'hello', { form: '16' })), ['error 1002'])
    expectBoth(stream(frame(OP.pong, 'hello', { form: '64' })), ['error 1002'])
    // A close frame with an invalid reason in the long form: the length is the error (1002), not the reason (1007).
    const close = Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from([0xff])])
    expectBoth(stream(frame(OP.close, close, { form: '16' })), ['error 1002'])
  })

  it('CONN-9.2: a control frame with a 64-bit length over 2^53 is a protocol error (1002), not too big (1009)', () => {
    expectBoth(stream(frame(OP.ping, '', { form: '64', high: 0x80000000 })), ['error 1002'])
  })

  it('CONN-9.2: decided from the bytes that decide it, before the rest of the header arrives', () => {
    // A control frame's length from its second byte, a close of 1 byte from its header.
    expectBoth(stream(frame(OP.ping, 'x'.repeat(126)).subarray(0, 2)), ['error 1002'])
    expectBoth(stream(frame(OP.close, 'x').subarray(0, 2)), ['error 1002'])
    // A message over the maximum from its extended length, before the masking key.
    expectBoth(stream(frame(OP.text, 'x'.repeat(130)).subarray(0, 4), [], 125), ['error 1009'])
    expectBoth(stream(frame(OP.binary, '', { declared: 2 ** 40 }).subarray(0, 10), [], 125), ['error 1009'])
    // Not before: a header cut before the bytes that decide is pending in both.
    expectBoth(stream(frame(OP.text, 'x'.repeat(130)).subarray(0, 3), [], 125), ['open'])
  })
})

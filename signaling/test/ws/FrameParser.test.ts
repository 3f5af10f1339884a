import { describe, expect, it } from 'vitest'
import { FrameParser, type FrameSink } from '../../src/ws/FrameParser.js'
import { maskedFrame } from '../helpers/RawWsClient.js'
import { Opcode, encodeClosePayload, unmask } from '../../src/ws/frames.js'

type Event =
  | { kind: 'message'; data: string; binary: boolean }
  | { kind: 'ping' | 'pong'; data: string }
  | { kind: 'close'; code: number; reason: string }
  | { kind: 'error'; code: number; reason: string }

const sink = (events: Event[]): FrameSink => ({
  onMessage: (data, binary) => events.push({ kind: 'message', data: data.toString('hex'), binary }),
  onPing: (data) => events.push({ kind: 'ping', data: data.toString('hex') }),
  onPong: (data) => events.push({ kind: 'pong', data: data.toString('hex') }),
  onCloseFrame: (code, reason) => events.push({ kind: 'close', code, reason }),
  onProtocolError: (code, reason) => events.push({ kind: 'error', code, reason }),
})

/** A client frame as a browser would send it, masked with `key` by the helper's own XOR (not the code under test). */
const clientFrame = (
  opcode: number,
  payload: Uint8Array,
  options: { fin?: boolean; masked?: boolean; rsv?: number; key?: number } = {},
): Buffer => maskedFrame(opcode, payload, { key: 0x37fa213d, ...options })

/** Parses a copy of `bytes` (the parser unmasks in place), pushed in pieces cut at `split`. */
const parse = (original: Buffer, max = 1 << 20, split?: number[]): Event[] => {
  const bytes = Buffer.from(original)
  const events: Event[] = []
  const parser = new FrameParser(sink(events), max)
  let at = 0
  for (const cut of [...(split ?? []), bytes.length]) {
    parser.push(bytes.subarray(at, cut))
    at = cut
  }
  return events
}

const hex = (s: string) => Buffer.from(s).toString('hex')

describe('FrameParser (RFC 6455 §5, client-to-server frames)', () => {
  it('CONN-9: a masked binary and a masked text frame are unmasked and delivered', () => {
    const bin = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff)
    const bytes = Buffer.concat([
      clientFrame(Opcode.Binary, bin),
      clientFrame(Opcode.Text, Buffer.from('héllo')),
    ])
    expect(parse(bytes)).toEqual([
      { kind: 'message', data: Buffer.from(bin).toString('hex'), binary: true },
      { kind: 'message', data: hex('héllo'), binary: false },
    ])
  })

  it('CONN-9: the same frames split at every byte boundary give the same result', () => {
    const big = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7) & 0xff)
    const frames = Buffer.concat([
      clientFrame(Opcode.Text, Buffer.from('ab'), { fin: false }),
      clientFrame(Opcode.Ping, Buffer.from('p')),
      clientFrame(Opcode.Continuation, Buffer.from('cd')),
      clientFrame(
        Opcode.Binary,
        Uint8Array.from({ length: 200 }, (_, i) => i),
      ),
      clientFrame(Opcode.Close, encodeClosePayload(4001, 'bye')),
    ])
    const whole = parse(frames)
    expect(whole.map((e) => e.kind)).toEqual(['ping', 'message', 'message', 'close'])
    for (let cut = 1; cut < frames.length; cut++) expect(parse(frames, 1 << 20, [cut])).toEqual(whole)
    // Three-way splits around the headers, and a 64-bit length frame fed one byte at a time at its start.
    for (let a = 1; a < 16; a++)
      for (let b = a + 1; b < 24; b++) expect(parse(frames, 1 << 20, [a, b])).toEqual(whole)
    const large = clientFrame(Opcode.Binary, big)
    const cuts = [...Array.from({ length: 20 }, (_, i) => i + 1), 5000, 65_536, 69_999]
    expect(parse(large, 1 << 20, cuts)).toEqual([
      { kind: 'message', data: Buffer.from(big).toString('hex'), binary: true },
    ])
  })

  it('CONN-9: fragments are joined; control frames may come between them', () => {
    const bytes = Buffer.concat([
      clientFrame(Opcode.Binary, Buffer.from([1, 2]), { fin: false }),
      clientFrame(Opcode.Pong, Buffer.alloc(0)),
      clientFrame(Opcode.Continuation, Buffer.from([3]), { fin: false }),
      clientFrame(Opcode.Continuation, Buffer.from([4, 5])),
    ])
    expect(parse(bytes)).toEqual([
      { kind: 'pong', data: '' },
      { kind: 'message', data: '0102030405', binary: true },
    ])
  })

  it('CONN-9: unmasked client frames, reserved bits and unknown opcodes are protocol errors (1002)', () => {
    const cases = [
      clientFrame(Opcode.Binary, Buffer.from([1]), { masked: false }),
      clientFrame(Opcode.Binary, Buffer.from([1]), { rsv: 0x40 }),
      clientFrame(Opcode.Binary, Buffer.from([1]), { rsv: 0x10 }),
      clientFrame(0x3, Buffer.from([1])),
      clientFrame(0xb, Buffer.from([1])),
      clientFrame(Opcode.Continuation, Buffer.from([1])),
      Buffer.concat([
        clientFrame(Opcode.Text, Buffer.from('a'), { fin: false }),
        clientFrame(Opcode.Binary, Buffer.from('b')),
      ]),
      clientFrame(Opcode.Ping, Buffer.from('x'), { fin: false }),
      clientFrame(Opcode.Ping, Buffer.alloc(126)),
      clientFrame(Opcode.Close, Buffer.from([3])),
      clientFrame(Opcode.Close, encodeClosePayload(1005, '')),
      clientFrame(Opcode.Close, encodeClosePayload(999, '')),
      clientFrame(Opcode.Close, encodeClosePayload(5000, '')),
    ]
    for (const bytes of cases) {
      const events = parse(Buffer.concat([bytes, clientFrame(Opcode.Binary, Buffer.from([9]))]))
      expect(events).toHaveLength(1)
      expect(events[0]).toMatchObject({ kind: 'error', code: 1002 })
    }
  })

  it('CONN-9: invalid UTF-8 in a text message or a close reason is 1007', () => {
    const bad = Buffer.from([0x61, 0xc3, 0x28])
    expect(parse(clientFrame(Opcode.Text, bad))).toMatchObject([{ kind: 'error', code: 1007 }])
    const close = Buffer.concat([encodeClosePayload(1000, ''), bad])
    expect(parse(clientFrame(Opcode.Close, close))).toMatchObject([{ kind: 'error', code: 1007 }])
    // Binary messages are bytes: no check.
    expect(parse(clientFrame(Opcode.Binary, bad))).toMatchObject([{ kind: 'message', binary: true }])
  })

  it('CONN-1: a frame or a fragmented message over the maximum is refused (1009) from its header, unbuffered', () => {
    const header = clientFrame(Opcode.Binary, Buffer.alloc(2000)).subarray(0, 8)
    // Only the header arrived: the error comes before any payload byte.
    expect(parse(header, 1000)).toMatchObject([{ kind: 'error', code: 1009 }])
    const fragmented = Buffer.concat([
      clientFrame(Opcode.Binary, Buffer.alloc(600), { fin: false }),
      clientFrame(Opcode.Continuation, Buffer.alloc(600)).subarray(0, 8),
    ])
    expect(parse(fragmented, 1000)).toMatchObject([{ kind: 'error', code: 1009 }])
    // A 64-bit length beyond 2^53.
    const huge = Buffer.from([0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 2, 3, 4])
    expect(parse(huge, 1000)).toMatchObject([{ kind: 'error', code: 1009 }])
    // Exactly the maximum is fine.
    expect(parse(clientFrame(Opcode.Binary, Buffer.alloc(1000)), 1000)).toMatchObject([{ kind: 'message' }])
  })

  it('CONN-9: close frames: without payload the code is 1005; codes and reasons are reported', () => {
    expect(parse(clientFrame(Opcode.Close, Buffer.alloc(0)))).toEqual([
      { kind: 'close', code: 1005, reason: '' },
    ])
    expect(parse(clientFrame(Opcode.Close, encodeClosePayload(4002, 'zu groß')))).toEqual([
      { kind: 'close', code: 4002, reason: 'zu groß' },
    ])
  })

  it('nothing is reported after an error or after stop()', () => {
    const events: Event[] = []
    const parser = new FrameParser(sink(events), 100)
    parser.push(clientFrame(Opcode.Binary, Buffer.from([1]), { masked: false }))
    parser.push(clientFrame(Opcode.Binary, Buffer.from([1])))
    expect(events).toHaveLength(1)
    expect(parser.stopped).toBe(true)
  })
})

describe('FrameParser memory (CONN-11.1)', () => {
  const tracked = (): { sink: FrameSink; events: Event[]; held: () => number } => {
    const events: Event[] = []
    let bytes = 0
    return { sink: { ...sink(events), onHeldBytes: (d) => (bytes += d) }, events, held: () => bytes }
  }

  it('CONN-11.1 a frame declaring 32 MiB holds only about what arrived of it, reported as it grows', () => {
    const { sink: s, events, held } = tracked()
    const parser = new FrameParser(s, 64 * 1024 * 1024)
    const frame = clientFrame(Opcode.Binary, Buffer.alloc(32 * 1024 * 1024, 7))
    parser.push(frame.subarray(0, 14 + 1000))
    expect(held()).toBeLessThanOrEqual(16 * 1024)
    expect(parser.heldBytes).toBe(held())
    parser.push(frame.subarray(14 + 1000, 14 + 3_000_000))
    expect(held()).toBeGreaterThanOrEqual(3_000_000)
    expect(held()).toBeLessThanOrEqual(2 * 3_000_000)
    parser.push(frame.subarray(14 + 3_000_000))
    expect(held()).toBe(0)
    expect(events).toHaveLength(1)
    expect(events[0]?.kind).toBe('message')
  })

  it('CONN-11.1 the fragments of an unfinished message are held and reported as they arrive; stop() frees them', () => {
    const { sink: s, held } = tracked()
    const parser = new FrameParser(s, 1 << 24)
    parser.push(clientFrame(Opcode.Binary, Buffer.alloc(100_000, 1), { fin: false }))
    parser.push(clientFrame(Opcode.Continuation, Buffer.alloc(100_000, 2), { fin: false }))
    expect(held()).toBeGreaterThanOrEqual(200_000)
    expect(held()).toBeLessThanOrEqual(400_000)
    const progress = parser.progress
    parser.stop()
    expect(held()).toBe(0)
    expect(progress).toBe(200_000)
  })

  it('CONN-11.1 fragments joined into one buffer give the same message, split anywhere', () => {
    const parts = [3, 70_000, 1, 20_000].map((n, i) => Buffer.alloc(n, i + 1))
    const bytes = Buffer.concat(
      parts.map((p, i) =>
        clientFrame(i === 0 ? Opcode.Binary : Opcode.Continuation, p, { fin: i === parts.length - 1 }),
      ),
    )
    const expected = Buffer.concat(parts).toString('hex')
    for (const cut of [1, 7, 9, 5000, 70_010, 70_020, bytes.length - 1]) {
      expect(parse(bytes, 1 << 20, [cut])).toEqual([{ kind: 'message', data: expected, binary: true }])
    }
  })

  it('CONN-11.2 a budget that closes the connection while its frame grows (discardData or stop inside onHeldBytes) never throws', () => {
    for (const end of ['discard', 'stop'] as const) {
      const events: Event[] = []
      let held = 0
      const parser: FrameParser = new FrameParser(
        {
          ...sink(events),
          onHeldBytes: (d) => {
            held += d
            if (held <= 50_000) return
            if (end === 'discard') parser.discardData()
            else parser.stop()
          },
        },
        1 << 24,
      )
      const frame = clientFrame(Opcode.Binary, Buffer.alloc(100_000, 1))
      expect(() => {
        parser.push(frame.subarray(0, 30_000))
        parser.push(frame.subarray(30_000))
        parser.push(clientFrame(Opcode.Ping, Buffer.from('p')))
      }).not.toThrow()
      expect(held).toBe(0)
      expect(events).toEqual(end === 'discard' ? [{ kind: 'ping', data: hex('p') }] : [])
    }
  })

  it('CONN-11.1 after discardData() data frames are skipped and released; control frames still count', () => {
    const { sink: s, events, held } = tracked()
    const parser = new FrameParser(s, 1 << 24)
    parser.push(clientFrame(Opcode.Binary, Buffer.alloc(100_000, 1), { fin: false }))
    expect(held()).toBeGreaterThanOrEqual(100_000)
    parser.discardData()
    expect(held()).toBe(0)
    const rest = Buffer.concat([
      clientFrame(Opcode.Continuation, Buffer.alloc(300_000, 2)),
      clientFrame(Opcode.Binary, Buffer.from([7])),
      clientFrame(Opcode.Close, encodeClosePayload(1000, '')),
    ])
    parser.push(rest.subarray(0, 1000))
    parser.push(rest.subarray(1000))
    expect(held()).toBe(0)
    expect(events).toEqual([{ kind: 'close', code: 1000, reason: '' }])
  })

  it('CONN-2.1 hold() stops parsing after the current frame; release() goes on where it stopped', () => {
    const events: Event[] = []
    let parser: FrameParser | null = null
    const s: FrameSink = {
      ...sink(events),
      onMessage: (data, binary) => {
        events.push({ kind: 'message', data: data.toString('hex'), binary })
        parser?.hold()
      },
    }
    parser = new FrameParser(s, 1000)
    const frames = [1, 2, 3].map((n) => clientFrame(Opcode.Binary, Buffer.from([n])))
    parser.push(Buffer.concat(frames.slice(0, 2)))
    expect(events.map((e) => e.kind === 'message' && e.data)).toEqual(['01'])
    parser.push(frames[2] as Buffer)
    expect(events).toHaveLength(1)
    parser.release()
    expect(events.map((e) => e.kind === 'message' && e.data)).toEqual(['01', '02'])
    parser.release()
    parser.release()
    expect(events.map((e) => e.kind === 'message' && e.data)).toEqual(['01', '02', '03'])
  })
})

describe('unmask', () => {
  it('matches a byte-wise XOR at every alignment and phase', () => {
    const key = 0xa1b2c3d4
    const keyBytes = [0xa1, 0xb2, 0xc3, 0xd4]
    const source = Buffer.from(Array.from({ length: 203 }, (_, i) => (i * 31) & 0xff))
    for (let offset = 0; offset < 4; offset++) {
      for (let phase = 0; phase < 4; phase++) {
        const backing = Buffer.alloc(source.length + 8)
        const view = backing.subarray(offset, offset + source.length)
        source.copy(view)
        unmask(view, key, phase)
        const expected = source.map((b, i) => b ^ (keyBytes[(i + phase) & 3] ?? 0))
        expect(Buffer.compare(view, Buffer.from(expected))).toBe(0)
      }
    }
  })
})

import fc from 'fast-check'
import * as encoding from 'lib0/encoding'
import { describe, expect, it } from 'vitest'
import {
  WorkspaceFrameKind,
  decodeWorkspaceFrame,
  deletionsDigest,
  encodeAck,
  encodeCatchUp,
  encodeChanged,
  encodeChanges,
  encodeDocFrame,
  encodeDocFrameHead,
  encodeRefused,
  encodeSubscribe,
  encodeSyncUpdate,
  encodeUnsubscribe,
  type WorkspaceFrame,
} from '../../src/protocol/index.js'

const docId = fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' })
const seq = fc.nat({ max: Number.MAX_SAFE_INTEGER })

const frameArb: fc.Arbitrary<WorkspaceFrame> = fc.oneof(
  fc.record({
    kind: fc.constant('doc' as const),
    doc: docId,
    message: fc.uint8Array({ minLength: 1, maxLength: 64 }),
  }),
  fc.record({
    kind: fc.constant('subscribe' as const),
    doc: docId,
    deletions: fc.option(fc.uint8Array({ minLength: 16, maxLength: 16 }), { nil: null }),
  }),
  fc.record({ kind: fc.constant('unsubscribe' as const), doc: docId }),
  fc.record({ kind: fc.constant('catch-up' as const), cursor: seq, pageSize: seq }),
  fc.record({
    kind: fc.constant('changes' as const),
    changes: fc.array(fc.record({ doc: docId, seq }), { maxLength: 8 }),
    through: seq,
    more: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('changed' as const), doc: docId, seq }),
  fc.record({
    kind: fc.constant('refused' as const),
    doc: docId,
    code: fc.nat({ max: 4999 }),
    reason: fc.string({ maxLength: 60 }),
  }),
)

const encode = (frame: WorkspaceFrame): Uint8Array => {
  switch (frame.kind) {
    case 'doc':
      return encodeDocFrame(frame.doc, frame.message)
    case 'subscribe':
      return encodeSubscribe(frame.doc, frame.deletions)
    case 'unsubscribe':
      return encodeUnsubscribe(frame.doc)
    case 'catch-up':
      return encodeCatchUp(frame.cursor, frame.pageSize)
    case 'changes':
      return encodeChanges(frame.changes, frame.through, frame.more)
    case 'changed':
      return encodeChanged(frame.doc, frame.seq)
    case 'refused':
      return encodeRefused(frame.doc, frame.code, frame.reason)
  }
}

const bytes = (write: (e: encoding.Encoder) => void): Uint8Array => {
  const e = encoding.createEncoder()
  write(e)
  return encoding.toUint8Array(e)
}

describe('workspace wire', () => {
  it('WS-WIRE-6: a SUBSCRIBE deletions digest is 16 bytes; any other length (8 included) is malformed', () => {
    const frame = bytes((e) => {
      encoding.writeVarUint(e, WorkspaceFrameKind.Subscribe)
      encoding.writeVarString(e, 'doc')
      encoding.writeVarUint8Array(e, new Uint8Array(7))
    })
    expect(decodeWorkspaceFrame(frame).ok).toBe(false)
    const short = bytes((e) => {
      encoding.writeVarUint(e, WorkspaceFrameKind.Subscribe)
      encoding.writeVarString(e, 'doc')
      encoding.writeVarUint8Array(e, new Uint8Array(8))
    })
    expect(decodeWorkspaceFrame(short).ok).toBe(false)
    expect(deletionsDigest(new Map([[1, [[0, 2]]]])).byteLength).toBe(16)
    expect(decodeWorkspaceFrame(encodeSubscribe('doc'))).toEqual({
      ok: true,
      frame: { kind: 'subscribe', doc: 'doc', deletions: null },
    })
  })

  it('WS-WIRE-1: every frame kind round-trips through its encoder and the decoder', () => {
    fc.assert(
      fc.property(frameArb, (frame) => {
        expect(decodeWorkspaceFrame(encode(frame))).toEqual({ ok: true, frame })
      }),
      { numRuns: 2000 },
    )
  })

  it('WS-WIRE-1: the kinds are the numbers of the table, a DOC frame is its head followed by the message', () => {
    expect(WorkspaceFrameKind).toEqual({
      Doc: 0,
      Subscribe: 1,
      Unsubscribe: 2,
      CatchUp: 3,
      Changes: 4,
      Changed: 5,
      Refused: 6,
    })
    const message = encodeSyncUpdate(new Uint8Array([0, 0]))
    const frame = encodeDocFrame('notes', message)
    const head = encodeDocFrameHead('notes')
    expect(frame).toEqual(new Uint8Array([...head, ...message]))
    expect(Array.from(head)).toEqual([0, 5, ...new TextEncoder().encode('notes')])
    const decoded = decodeWorkspaceFrame(frame)
    expect(decoded.ok && decoded.frame.kind === 'doc' && decoded.frame.message).toEqual(message)
    expect(Array.from(encodeCatchUp(7, 100))).toEqual([3, 7, 100])
    expect(Array.from(encodeChanged('a', 300))).toEqual([5, 1, 97, 0xac, 0x02])
  })

  it('WS-WIRE-2: random bytes never throw: a frame or a typed error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (data) => {
        const result = decodeWorkspaceFrame(data)
        if (!result.ok) expect(typeof result.reason).toBe('string')
      }),
      { numRuns: 5000 },
    )
  })

  it('WS-WIRE-2: every truncation and every extension of a valid frame is refused or decodes, never throws', () => {
    fc.assert(
      fc.property(frameArb, fc.uint8Array({ minLength: 1, maxLength: 8 }), (frame, extra) => {
        const data = encode(frame)
        for (let cut = 0; cut < data.length; cut++) {
          const result = decodeWorkspaceFrame(data.subarray(0, cut))
          // A DOC frame cut inside its message is still a DOC frame (the message is opaque here); a SUBSCRIBE cut
          // right before its digest is one without (WS-WIRE-6).
          const bare = frame.kind === 'subscribe' && cut === encodeSubscribe(frame.doc).length
          if (frame.kind !== 'doc') expect(result.ok).toBe(bare)
        }
        const longer = new Uint8Array([...data, ...extra])
        // Bytes after the fields are malformed, except after a DOC frame, whose message runs to the end.
        expect(decodeWorkspaceFrame(longer).ok).toBe(frame.kind === 'doc')
      }),
      { numRuns: 500 },
    )
  })

  it('WS-WIRE-2: unknown kinds, empty documents ids, bad UTF-8, an empty DOC message and bad flags are errors', () => {
    const refused = (data: Uint8Array): string => {
      const result = decodeWorkspaceFrame(data)
      if (result.ok) throw new Error('decoded')
      return result.reason
    }
    expect(refused(new Uint8Array([7]))).toMatch(/unknown workspace frame kind 7/)
    expect(refused(new Uint8Array([]))).toBeTypeOf('string')
    expect(refused(encodeSubscribe(''))).toMatch(/empty document id/)
    expect(refused(encodeSubscribe('x'.repeat(257)))).toMatch(/too long/)
    expect(decodeWorkspaceFrame(encodeSubscribe('x'.repeat(256))).ok).toBe(true)
    expect(refused(new Uint8Array([1, 2, 0xc3, 0x28]))).toBeTypeOf('string')
    expect(refused(encodeDocFrameHead('a'))).toMatch(/without a message/)
    expect(refused(bytes((e) => [4, 0, 0, 2].forEach((n) => encoding.writeVarUint(e, n))))).toMatch(
      /more flag/,
    )
    // A count far larger than the frame fails at once.
    expect(refused(bytes((e) => [4, 2 ** 40, 0, 0].forEach((n) => encoding.writeVarUint(e, n))))).toMatch(
      /past the end/,
    )
    // A DOC frame's message is opaque to the frame decoder: the document's protocol decodes (or refuses) it.
    expect(decodeWorkspaceFrame(encodeDocFrame('a', encodeAck(3))).ok).toBe(true)
  })
})

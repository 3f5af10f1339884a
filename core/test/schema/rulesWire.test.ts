import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { CloseCode, WeftError, closeCodeName, isRetryableClose } from '../../src/index.js'
import {
  Feature,
  PROTOCOL_VERSION,
  decodeMessage,
  encodeRejected,
  type WireMessage,
} from '../../src/protocol/index.js'
import {
  ProtocolPath,
  type ProtocolDocState,
  type ProtocolSide,
  type ProtocolSink,
  type Rejection,
} from '../../src/sync/engine.js'

const side = (features: number): ProtocolSide => ({
  features,
  maxMessageSize: 1 << 20,
  chunkSize: 16 * 1024,
  ordered: true,
  numbers: true,
  closesStale: false,
  validate: {},
})

const pathWith = (features: number) => {
  const doc = new Y.Doc()
  const state: ProtocolDocState = {
    stateVector: () => Y.encodeStateVector(doc),
    answer: () => [],
    epochRecord: () => null,
    offerFor: () => null,
  }
  const rejected: Rejection[] = []
  const sink: ProtocolSink = {
    write: () => true,
    greeted: () => undefined,
    offered: () => undefined,
    archived: () => undefined,
    refuse: () => undefined,
    failed: () => undefined,
    rejected: (r) => rejected.push(r),
  }
  const path = new ProtocolPath(side(features), state, sink, { greets: true, writable: true })
  path.step1(Y.encodeStateVector(new Y.Doc()), {
    version: PROTOCOL_VERSION,
    features: Feature.Ack,
    maxMessageSize: 1 << 20,
  })
  return { path, rejected }
}

const asRejected = (m: WireMessage) => {
  if (m.type !== 'rejected') throw new Error(`expected rejected, got ${m.type}`)
  return m
}

describe('the rejected message', () => {
  it('RULES-4.3: encodes and decodes seq, rule id, path and reason (seq 0 is unnumbered)', () => {
    expect(decodeMessage(encodeRejected(7, 'shapes.x.max', 'shapes/s1/x', 'x must be <= 100'))).toEqual({
      type: 'rejected',
      seq: 7,
      ruleId: 'shapes.x.max',
      path: 'shapes/s1/x',
      reason: 'x must be <= 100',
    })
    expect(decodeMessage(encodeRejected(null, 'undeclared', '', 'no')).type).toBe('rejected')
    expect(asRejected(decodeMessage(encodeRejected(null, 'undeclared', '', 'no'))).seq).toBeNull()
    expect(() => decodeMessage(encodeRejected(1, 'a', 'b', 'c').subarray(0, 6))).toThrow(WeftError)
  })

  it('RULES-4.3: the protocol path reports it to its sink, split into path segments, when it announced rollback', () => {
    const { path, rejected } = pathWith(Feature.Ack | Feature.Chunk | Feature.Rollback)
    path.onRejected(asRejected(decodeMessage(encodeRejected(3, 'shapes.update', 'shapes/s1', 'no'))))
    expect(rejected).toEqual([{ seq: 3, ruleId: 'shapes.update', path: ['shapes', 's1'], reason: 'no' }])
  })

  it('RULES-4.3: a rejected message to a side that did not announce rollback is malformed', () => {
    const { path, rejected } = pathWith(Feature.Ack | Feature.Chunk)
    expect(() => path.onRejected(asRejected(decodeMessage(encodeRejected(3, 'r', '', 'no'))))).toThrow(
      /without negotiation/,
    )
    expect(rejected).toEqual([])
  })

  it('RULES-4.3: UpdateRejected (4405) is a final close code', () => {
    expect(CloseCode.UpdateRejected).toBe(4405)
    expect(closeCodeName(4405)).toBe('UpdateRejected')
    expect(isRetryableClose(CloseCode.UpdateRejected)).toBe(false)
  })
})

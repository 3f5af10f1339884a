import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { Feature, PROTOCOL_VERSION, decodeMessage, encodeRejected } from '../../src/protocol/index.js'
import { ProtocolPath, type ProtocolSide, type ProtocolSink, type Rejection } from '../../src/sync/engine.js'
import { SyncSession } from '../../src/sync/SyncSession.js'
import { ObservableV2 } from 'lib0/observable'
import { peerId } from '../../src/ids.js'
import type { TransportEvents } from '../../src/transport/Transport.js'

const side = (features: number): ProtocolSide => ({
  features,
  maxMessageSize: 1 << 20,
  chunkSize: 16 * 1024,
  ordered: false,
  numbers: true,
  closesStale: false,
  validate: {},
})

const path = (features: number) => {
  const rejections: Rejection[] = []
  const sink: ProtocolSink = {
    write: () => true,
    greeted: () => undefined,
    offered: () => undefined,
    archived: () => undefined,
    refuse: () => undefined,
    failed: () => undefined,
    rejected: (r) => void rejections.push(r),
  }
  const state = {
    stateVector: () => Y.encodeStateVector(new Y.Doc()),
    answer: () => [],
    epochRecord: () => null,
    offerFor: () => null,
  }
  const p = new ProtocolPath(side(features), state, sink, { greets: true, writable: true })
  // The peer (a relay) announces acks: this side numbers what it sends.
  p.step1(Y.encodeStateVector(new Y.Doc()), {
    version: PROTOCOL_VERSION,
    features: Feature.Ack | Feature.Chunk,
    maxMessageSize: 1 << 20,
    epoch: '0',
  })
  return { p, rejections }
}

describe('a writer path keeps what it numbers until acknowledged (RULES-5.2, RULES-5.3)', () => {
  it('RULES-5.2: updates are kept per sequence number; an ack (also of a refused update) drops them', () => {
    const { p } = path(Feature.Ack | Feature.Chunk | Feature.Rollback)
    const seqs = [1, 2, 3, 4].map((n) => {
      const seq = p.nextSeq()
      p.keep(seq, new Uint8Array([n]))
      return seq as number
    })
    const [first, second, third, fourth] = seqs as [number, number, number, number]
    expect(p.unacknowledged(second).map(([s]) => s)).toEqual([second, third, fourth])
    // RULES-5.3: the relay acknowledges a refused update: the cumulative ack moves past it.
    p.acknowledge(third)
    expect(p.ackedSeq).toBe(third)
    expect(p.unacknowledged(first).map(([s]) => s)).toEqual([fourth])
    p.forget(fourth)
    expect(p.unacknowledged(first)).toEqual([])
  })

  it('RULES-5.2: a side without rollback keeps nothing and may not be sent rejected', () => {
    const { p } = path(Feature.Ack | Feature.Chunk)
    p.keep(p.nextSeq(), new Uint8Array([1]))
    expect(p.unacknowledged(1)).toEqual([])
    const message = decodeMessage(encodeRejected(1, 'r', 'a/b', 'no'))
    if (message.type !== 'rejected') throw new Error('not rejected')
    expect(() => p.onRejected(message)).toThrow(/without negotiation/)
  })

  it('RULES-5.2: a session announces rollback only with durable acks, unless turned off', () => {
    const featuresOf = (options: { durable?: () => Promise<void>; rollback?: boolean }): number => {
      const sent: Uint8Array[] = []
      // A transport whose one peer is already there: the session greets it at once.
      const transport = Object.assign(new ObservableV2<TransportEvents>(), {
        kind: 'stub',
        status: 'connected' as const,
        peers: new Set([peerId('relay')]),
        connect: () => undefined,
        disconnect: () => undefined,
        send: (data: Uint8Array) => void sent.push(data),
      })
      const session = new SyncSession({ doc: new Y.Doc(), ...options })
      session.addTransport(transport)
      session.destroy()
      const step1 = sent.map((m) => decodeMessage(m)).find((m) => m.type === 'sync-step1')
      return step1?.type === 'sync-step1' ? (step1.hello?.features ?? 0) : -1
    }
    const durable = () => Promise.resolve()
    expect(featuresOf({ durable }) & Feature.Rollback).toBe(Feature.Rollback)
    expect(featuresOf({}) & Feature.Rollback).toBe(0)
    expect(featuresOf({ durable, rollback: false }) & Feature.Rollback).toBe(0)
  })
})

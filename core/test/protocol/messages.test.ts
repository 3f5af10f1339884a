import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import * as decoding from 'lib0/decoding'
import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { WeftError } from '../../src/index.js'
import {
  Feature,
  PROTOCOL_VERSION,
  decodeMessage,
  encodeAck,
  encodeAwareness,
  encodeChunk,
  encodeEpochOffer,
  encodeEpochRequest,
  encodeSyncStep1,
  encodeSyncStep2,
  encodeSyncUpdate,
  updateMessageParts,
} from '../../src/protocol/index.js'

const hello = { version: PROTOCOL_VERSION, features: Feature.Ack | Feature.Chunk, maxMessageSize: 1 << 20 }

describe('wire messages', () => {
  it('SYNC-2.1 a step 1 with the Weft hello round-trips, and a stock y-protocols reader still answers it', () => {
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'hello')
    const sv = Y.encodeStateVector(new Y.Doc())
    const msg = encodeSyncStep1(sv, hello)
    const decoded = decodeMessage(msg)
    expect(decoded).toEqual({ type: 'sync-step1', stateVector: sv, hello: { ...hello, epoch: null } })
    const inEpoch = { ...hello, epoch: '3-0123456789abcdef' }
    expect(decodeMessage(encodeSyncStep1(sv, inEpoch))).toEqual({
      type: 'sync-step1',
      stateVector: sv,
      hello: inEpoch,
    })

    // A stock peer (y-protocols' readSyncMessage, as y-websocket and y-webrtc use it) ignores the trailer.
    const decoder = decoding.createDecoder(msg)
    expect(decoding.readVarUint(decoder)).toBe(0)
    const reply = encoding.createEncoder()
    const type = syncProtocol.readSyncMessage(decoder, reply, doc, null)
    expect(type).toBe(syncProtocol.messageYjsSyncStep1)
    const answer = decodeMessage(Uint8Array.from([0, ...encoding.toUint8Array(reply)]))
    expect(answer.type).toBe('sync-step2')
    const other = new Y.Doc()
    if (answer.type !== 'sync-step2') throw new Error('unreachable')
    Y.applyUpdate(other, answer.update)
    expect(other.getText('t').toString()).toBe('hello')
  })

  it('SYNC-2.2 a stock step 1 decodes with no hello; a foreign trailer is ignored', () => {
    const sv = Y.encodeStateVector(new Y.Doc())
    expect(decodeMessage(encodeSyncStep1(sv))).toEqual({ type: 'sync-step1', stateVector: sv, hello: null })
    const foreign = Uint8Array.from([...encodeSyncStep1(sv), 3, 120, 121, 122])
    expect(decodeMessage(foreign)).toMatchObject({ type: 'sync-step1', hello: null })
  })

  it('SYNC-4.1 updates carry an optional sequence number that stock readers ignore', () => {
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'x')
    const update = Y.encodeStateAsUpdate(doc)
    const untagged = { update, epoch: null }
    expect(decodeMessage(encodeSyncUpdate(update, 7))).toEqual({ type: 'sync-update', ...untagged, seq: 7 })
    expect(decodeMessage(encodeSyncUpdate(update))).toEqual({ type: 'sync-update', ...untagged, seq: null })
    expect(decodeMessage(encodeSyncStep2(update, 1))).toEqual({ type: 'sync-step2', ...untagged, seq: 1 })
    // COMPACT-6.1: the epoch tag follows the sequence number (0 = none).
    const e = '1-0123456789abcdef'
    expect(decodeMessage(encodeSyncUpdate(update, null, e))).toEqual({
      type: 'sync-update',
      update,
      seq: null,
      epoch: e,
    })
    expect(decodeMessage(encodeSyncStep2(update, 4, e))).toEqual({
      type: 'sync-step2',
      update,
      seq: 4,
      epoch: e,
    })
    const target = new Y.Doc()
    const decoder = decoding.createDecoder(encodeSyncUpdate(update, 7, e))
    decoding.readVarUint(decoder)
    syncProtocol.readSyncMessage(decoder, encoding.createEncoder(), target, null)
    expect(target.getText('t').toString()).toBe('x')
  })

  it('SYNC-9.3 / SYNC-9.7 epoch offers and epoch requests round-trip', () => {
    const record = Uint8Array.from([1, 2, 3])
    const catchUp = Uint8Array.from([4, 5])
    expect(decodeMessage(encodeEpochOffer(record, catchUp))).toEqual({ type: 'epoch-offer', record, catchUp })
    const sv = Uint8Array.from([0])
    expect(decodeMessage(encodeEpochRequest('2-0123456789abcdef', sv))).toEqual({
      type: 'epoch-request',
      epoch: '2-0123456789abcdef',
      stateVector: sv,
    })
    expect(() => decodeMessage(encodeEpochOffer(record, catchUp).slice(0, -1))).toThrow(/malformed/)
  })

  it('SYNC-4.1 acks and chunks round-trip', () => {
    expect(decodeMessage(encodeAck(42))).toEqual({ type: 'ack', seq: 42 })
    const data = Uint8Array.from([1, 2, 3])
    expect(decodeMessage(encodeChunk(5, 10, 7, data))).toEqual({
      type: 'chunk',
      id: 5,
      total: 10,
      offset: 7,
      data,
    })
    expect(decodeMessage(encodeAwareness(data))).toEqual({ type: 'awareness', update: data })
  })

  it('SYNC-7.1 truncated, unknown and inconsistent messages are rejected with malformed-message', () => {
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'some text')
    const full = encodeSyncUpdate(Y.encodeStateAsUpdate(doc))
    const bad = [
      new Uint8Array(0),
      full.subarray(0, full.length - 3),
      Uint8Array.from([9]),
      Uint8Array.from([0, 2, 200, 1, 2]), // declares 200 bytes, has 2
      Uint8Array.from([1, 50, 1]), // awareness update cut short
      Uint8Array.from([0, 9]),
      Uint8Array.from([87, 9]),
      encodeChunk(1, 4, 3, Uint8Array.from([1, 2])), // past its declared size
      encodeChunk(1, 0, 0, new Uint8Array(0)),
    ]
    for (const b of bad) {
      expect(() => decodeMessage(b)).toThrow(WeftError)
      try {
        decodeMessage(b)
      } catch (err) {
        expect((err as WeftError).code).toBe('malformed-message')
      }
    }
  })

  it('updateMessageParts concatenate to exactly the message encodeSyncStep2 / encodeSyncUpdate build', () => {
    const concat = (parts: readonly Uint8Array[]) => {
      const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
      let at = 0
      for (const p of parts) {
        out.set(p, at)
        at += p.byteLength
      }
      return out
    }
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'x'.repeat(300))
    const update = Y.encodeStateAsUpdate(doc)
    for (const [seq, epoch] of [
      [null, null],
      [7, null],
      [null, '2-00ff'],
      [300, '2-00ff'],
    ] as const) {
      const step2 = updateMessageParts('step2', update, seq, epoch)
      expect(step2[1]).toBe(update)
      expect(concat(step2)).toEqual(encodeSyncStep2(update, seq, epoch))
      expect(concat(updateMessageParts('update', update, seq, epoch))).toEqual(
        encodeSyncUpdate(update, seq, epoch),
      )
    }
  })
})

import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { WeftError, type EpochRecord } from '../../src/index.js'
import { decodeEpochRecord, encodeEpochRecord, startEpoch } from '../../src/storage/epochs.js'
import {
  Feature,
  PROTOCOL_VERSION,
  decodeMessage,
  encodeChunk,
  encodeSyncStep2,
  splitMessage,
  type Hello,
  type WireMessage,
} from '../../src/protocol/index.js'
import {
  MIN_PEER_MESSAGE_SIZE,
  ProtocolPath,
  decideEnter,
  judgeOffer,
  type EpochOffering,
  type ProtocolSide,
  type ProtocolSink,
} from '../../src/sync/engine.js'

/** A session's side (unordered transports, numbers its updates, keeps stock peers of other epochs). */
const SESSION: ProtocolSide = {
  features: Feature.Ack | Feature.Chunk,
  maxMessageSize: 1 << 20,
  chunkSize: 16 * 1024,
  ordered: false,
  numbers: true,
  closesStale: false,
  validate: {},
}

/** The relay's side (one WebSocket: ordered; never numbers; closes stock clients of other epochs). */
const RELAY: ProtocolSide = {
  ...SESSION,
  ordered: true,
  numbers: false,
  closesStale: true,
  validate: { strings: true },
}

const hello = (
  epoch: string | null = null,
  features = Feature.Ack | Feature.Chunk,
  maxMessageSize = 1 << 20,
): Hello => ({
  version: PROTOCOL_VERSION,
  features,
  maxMessageSize,
  epoch,
})

/** A document in epoch 0 with some content, and its first epoch. */
const epochs = (): { old: Y.Doc; record: EpochRecord } => {
  const old = new Y.Doc()
  old.getText('t').insert(0, 'hello')
  const { record, doc } = startEpoch(old)
  doc.destroy()
  return { old, record }
}

/** One path over a Y.Doc-backed state and a recording sink. */
const makePath = (
  side: ProtocolSide,
  options: {
    record?: EpochRecord | null
    offerFor?: (epoch: string) => EpochOffering | null | Promise<EpochOffering | null>
    greets?: boolean
    writable?: boolean
    maxMessageSize?: number
  } = {},
) => {
  const doc = new Y.Doc()
  doc.getText('t').insert(0, 'relay state')
  let record = options.record ?? null
  let marks = 0
  const sent: Uint8Array[] = []
  const refused: string[] = []
  const offered: Array<{ record: EpochRecord; judgement: string }> = []
  const archived: EpochRecord[] = []
  const failed: WeftError[] = []
  let greetedCount = 0
  let buffered = 0
  const sink: ProtocolSink = {
    write: (m) => {
      sent.push(m)
      return true
    },
    maxMessageSize: options.maxMessageSize,
    greeted: () => greetedCount++,
    offered: (r, _c, judgement) => offered.push({ record: r, judgement }),
    archived: (r) => archived.push(r),
    refuse: (kind) => refused.push(kind),
    failed: (e) => failed.push(e),
    buffered: (d) => (buffered += d),
  }
  const path = new ProtocolPath(
    { ...side, mark: () => ++marks },
    {
      stateVector: () => Y.encodeStateVector(doc),
      answer: (sv, seq, tag) => [encodeSyncStep2(Y.encodeStateAsUpdate(doc, sv), seq, tag)],
      epochRecord: () => record,
      offerFor: options.offerFor ?? (() => null),
    },
    sink,
    { greets: options.greets ?? true, writable: options.writable ?? true },
  )
  const messages = (): WireMessage[] => sent.map((m) => decodeMessage(m))
  return {
    path,
    doc,
    sent,
    messages,
    refused,
    offered,
    archived,
    failed,
    greeted: () => greetedCount,
    buffered: () => buffered,
    setRecord: (r: EpochRecord | null) => (record = r),
  }
}

const EMPTY_SV = Y.encodeStateVector(new Y.Doc())

describe('ProtocolPath: negotiation (SYNC-2)', () => {
  it('SYNC-2.1 SYNC-1.1: greet sends step 1 with the state vector and this side’s hello (its epoch included)', () => {
    const { record } = epochs()
    const t = makePath(SESSION, { record })
    t.path.start()
    const [m] = t.messages()
    expect(m?.type).toBe('sync-step1')
    if (m?.type !== 'sync-step1') return
    expect(m.hello).toMatchObject({
      features: Feature.Ack | Feature.Chunk,
      maxMessageSize: 1 << 20,
      epoch: record.id,
    })
    expect(Y.decodeStateVector(m.stateVector).size).toBe(1)
  })

  it('SYNC-2.2: a side without extensions sends no hello; RELAY-2.2: a path that does not greet sends nothing', () => {
    const stock = makePath({ ...SESSION, features: null })
    stock.path.start()
    const [m] = stock.messages()
    expect(m?.type === 'sync-step1' && m.hello).toBe(null)
    const reader = makePath(RELAY, { greets: false })
    reader.path.start()
    expect(reader.sent).toHaveLength(0)
  })

  it('SYNC-2.3 SYNC-4.1: sequence numbers only towards a peer that announced ack, and only from a numbering side', () => {
    const t = makePath(SESSION)
    expect(t.path.nextSeq()).toBe(null)
    t.path.step1(EMPTY_SV, hello(null, Feature.Chunk))
    expect(t.path.nextSeq()).toBe(null)
    t.path.step1(EMPTY_SV, hello())
    expect(t.greeted()).toBe(1) // once, at the first hello
    expect(t.path.nextSeq()).not.toBe(null)
    const relay = makePath(RELAY)
    relay.path.step1(EMPTY_SV, hello())
    expect(relay.path.nextSeq()).toBe(null) // RELAY-3.2: the relay never numbers
  })

  it('SYNC-2.4 RELAY-7.2: a hello announcing less than the minimum message size is malformed, on both sides', () => {
    for (const side of [SESSION, RELAY]) {
      const t = makePath(side)
      expect(() => t.path.step1(EMPTY_SV, hello(null, Feature.Chunk, MIN_PEER_MESSAGE_SIZE - 1))).toThrow(
        /too small/,
      )
    }
  })
})

describe('ProtocolPath: chunking (SYNC-5, RELAY-7)', () => {
  it('SYNC-5.1 RELAY-7.2: a message over min(chunk size, medium, peer maximum) is split for a peer that chunks', () => {
    const t = makePath(SESSION, { maxMessageSize: 8 * 1024 })
    const big = new Uint8Array(20_000).fill(7)
    t.path.send(big)
    expect(t.sent).toEqual([big]) // a stock peer gets it whole
    t.sent.length = 0
    t.path.step1(EMPTY_SV, hello(null, Feature.Chunk, 4 * 1024))
    t.sent.length = 0
    t.path.send(big)
    expect(t.sent.length).toBeGreaterThan(4)
    for (const piece of t.sent) expect(piece.byteLength).toBeLessThanOrEqual(4 * 1024)
  })

  it('SYNC-5.2: an unordered side reassembles reordered pieces, even before the peer’s hello arrived', () => {
    const t = makePath(SESSION)
    const message = encodeSyncStep2(new Uint8Array(300).fill(1))
    const pieces = splitMessage(message, 64 + 31, 1)
    expect(pieces.length).toBeGreaterThan(3)
    const out = [...pieces].reverse().map((p) => t.path.decode(p))
    expect(out.slice(0, -1)).toEqual(new Array(pieces.length - 1).fill(null))
    expect(out.at(-1)).toMatchObject({ type: 'sync-step2', update: new Uint8Array(300).fill(1) })
    expect(t.path.bytesReceived).toBe(message.byteLength)
  })

  it('RELAY-7.1: on an ordered side a chunk before the peer announced chunk is malformed; from a read-only path it is refused', () => {
    const chunk = encodeChunk(1, 200, 0, new Uint8Array(100))
    const t = makePath(RELAY)
    expect(() => t.path.decode(chunk)).toThrow(/not negotiated/)
    const reader = makePath(RELAY, { writable: false })
    expect(reader.path.decode(chunk)).toBe(null)
    expect(reader.refused).toEqual(['read-only'])
  })

  it('RELAY-7.3 SYNC-5.6: buffered bytes are reported as pieces arrive and released when the message completes', () => {
    const t = makePath(RELAY)
    t.path.step1(EMPTY_SV, hello())
    const message = encodeSyncStep2(new Uint8Array(5000))
    const pieces = splitMessage(message, 1024, 3)
    for (const p of pieces.slice(0, -1)) expect(t.path.decode(p)).toBe(null)
    expect(t.buffered()).toBeGreaterThan(0)
    expect(t.path.decode(pieces.at(-1) as Uint8Array)?.type).toBe('sync-step2')
    expect(t.buffered()).toBe(0)
  })

  it('SYNC-7.1: a chunk inside a chunk and a message over the maximum are refused', () => {
    const t = makePath(SESSION)
    t.path.step1(EMPTY_SV, hello())
    const nested = encodeChunk(2, 40, 0, new Uint8Array(40))
    const [outer] = splitMessage(nested, 1 << 20, 1)
    expect(() => t.path.decode(encodeChunk(1, nested.byteLength, 0, outer as Uint8Array))).toThrow(
      /chunk inside/,
    )
    expect(() => t.path.decode(new Uint8Array((1 << 20) + 1))).toThrow(WeftError)
  })
})

describe('ProtocolPath: sequence numbers and durable acks (SYNC-4, RELAY-3.2)', () => {
  it('SYNC-4.5: unordered, a gap holds the ack back until filled; a step 2 covers every earlier number', () => {
    const t = makePath(SESSION)
    expect(t.path.received(2)).toBe(true)
    expect(t.path.receivedSeq).toBe(0)
    expect(t.path.received(2)).toBe(false) // duplicate
    expect(t.path.received(1)).toBe(true)
    expect(t.path.receivedSeq).toBe(2)
    expect(t.path.received(5, true)).toBe(true)
    expect(t.path.receivedSeq).toBe(5)
  })

  it('RELAY-3.2: ordered, a number above the next acknowledges the gap (what lies between was refused, not lost)', () => {
    const t = makePath(RELAY)
    expect(t.path.received(3)).toBe(true)
    expect(t.path.receivedSeq).toBe(3)
    expect(t.path.received(3)).toBe(false)
  })

  it('SYNC-4.2 RELAY-3.2: acks are sent once durable, cumulative and monotonic, never after the path closed', async () => {
    const t = makePath(RELAY)
    let release!: () => void
    const first = new Promise<void>((r) => (release = r))
    t.path.received(1)
    t.path.ackWhen(1, first)
    t.path.received(2)
    t.path.ackWhen(2, Promise.resolve())
    await Promise.resolve()
    release()
    await first
    await Promise.resolve()
    const acks = t.messages().filter((m) => m.type === 'ack')
    expect(acks.map((m) => (m.type === 'ack' ? m.seq : 0))).toEqual([2])
    t.path.close()
    t.path.durable(3)
    expect(t.messages().filter((m) => m.type === 'ack')).toHaveLength(1)
  })

  it('SYNC-4.2: scheduleAck runs one flush at a time and acknowledges what arrived meanwhile with the next', async () => {
    const t = makePath(SESSION)
    let flushes = 0
    const flush = () => {
      flushes++
      return Promise.resolve()
    }
    t.path.received(1)
    t.path.scheduleAck(flush)
    t.path.received(2)
    t.path.scheduleAck(flush) // in flight: coalesced
    expect(flushes).toBe(1)
    await new Promise((r) => setImmediate(r))
    expect(t.messages().map((m) => (m.type === 'ack' ? m.seq : 0))).toEqual([1, 2])
    expect(t.path.ackDue).toBe(false)
  })

  it('SYNC-4.3: an ack returns the mark recorded with the last number it covers; stale and unsent numbers return null', () => {
    const t = makePath(SESSION)
    t.path.step1(EMPTY_SV, hello())
    t.sent.length = 0
    const a = t.path.nextSeq() as number
    const b = t.path.nextSeq() as number
    expect(t.path.acknowledge(b + 1)).toBe(null)
    // marks: 1 for the step 2 answer, then 2 and 3
    expect(t.path.acknowledge(a)).toBe(2)
    expect(t.path.acknowledge(a)).toBe(null)
    expect(t.path.acknowledge(b)).toBe(3)
  })
})

describe('ProtocolPath: step 1 and epochs (SYNC-1.2, SYNC-9, RELAY-EPOCH-2/3/8)', () => {
  it('SYNC-1.2 SYNC-9.1: a peer in our epoch gets exactly what it lacks, numbered and tagged with the epoch', () => {
    const { record } = epochs()
    const t = makePath(SESSION, { record })
    t.path.step1(EMPTY_SV, hello(record.id))
    const [m] = t.messages()
    expect(m).toMatchObject({ type: 'sync-step2', seq: 1, epoch: record.id })
    const peer = new Y.Doc()
    if (m?.type === 'sync-step2') Y.applyUpdate(peer, m.update)
    expect(peer.getText('t').toString()).toBe('relay state')
  })

  it('SYNC-9.2 RELAY-EPOCH-3 COMPACT-5.1: ours wins: the peer is offered our record with the catch-up of its epoch', async () => {
    const { old, record } = epochs()
    const t = makePath(RELAY, {
      record,
      offerFor: () => Promise.resolve({ record, catchUp: (sv) => Y.encodeStateAsUpdate(old, sv) }),
    })
    // A peer holding part of the old epoch gets what it lacks of it; an empty one needs no catch-up.
    const part = new Y.Doc()
    part.getText('t').insert(0, 'x')
    t.path.step1(Y.encodeStateVector(part), hello())
    const empty = makePath(RELAY, {
      record,
      offerFor: () => Promise.resolve({ record, catchUp: (sv) => Y.encodeStateAsUpdate(old, sv) }),
    })
    empty.path.step1(EMPTY_SV, hello())
    await new Promise((r) => setImmediate(r))
    const [offer] = t.messages()
    expect(offer?.type).toBe('epoch-offer')
    if (offer?.type !== 'epoch-offer') return
    const decoded = decodeEpochRecord(offer.record)
    expect(decoded.ok && decoded.record.id).toBe(record.id)
    Y.applyUpdate(part, offer.catchUp)
    expect(part.getText('t').toString()).toContain('hello')
    const [emptyOffer] = empty.messages()
    expect(emptyOffer?.type === 'epoch-offer' && emptyOffer.catchUp.byteLength).toBe(0)
  })

  it('SYNC-9.3: an offer whose lookup returns after the path closed, or after the document changed epochs, is not sent', async () => {
    const { record } = epochs()
    let resolve!: (o: EpochOffering | null) => void
    const t = makePath(SESSION, { record, offerFor: () => new Promise((r) => (resolve = r)) })
    t.path.step1(EMPTY_SV, hello())
    t.path.close()
    resolve(null)
    await new Promise((r) => setImmediate(r))
    expect(t.sent).toHaveLength(0)

    const u = makePath(SESSION, { record, offerFor: () => new Promise((r) => (resolve = r)) })
    u.path.step1(EMPTY_SV, hello())
    const { record: next } = epochs()
    u.setRecord(next)
    resolve(null)
    await new Promise((r) => setImmediate(r))
    expect(u.sent).toHaveLength(0)
  })

  it('SYNC-9.2: theirs wins: wait for its offer; when the peer moves to a winning epoch, tell it ours', () => {
    const { record } = epochs()
    const t = makePath(SESSION)
    t.path.step1(EMPTY_SV, hello(record.id))
    expect(t.sent).toHaveLength(0)
    const u = makePath(SESSION)
    u.path.step1(EMPTY_SV, hello())
    u.sent.length = 0
    u.path.step1(EMPTY_SV, hello(record.id))
    expect(u.messages().map((m) => m.type)).toEqual(['sync-step1'])
  })

  it('SYNC-9.5 RELAY-EPOCH-3: a stock peer holding pre-reset state is refused on the relay and only kept out on a session', () => {
    const { old, record } = epochs()
    const sv = Y.encodeStateVector(old)
    const relay = makePath(RELAY, { record })
    relay.path.step1(sv, null)
    expect(relay.refused).toEqual(['stale-epoch'])
    expect(relay.path.admits(null)).toBe(false)
    const session = makePath(SESSION, { record })
    session.path.step1(sv, null)
    expect(session.refused).toEqual([])
    expect(session.sent).toHaveLength(0)
    expect(session.path.admits(null)).toBe(false)
    // An empty stock peer counts as in ours.
    const fresh = makePath(RELAY, { record })
    fresh.path.step1(EMPTY_SV, null)
    expect(fresh.path.admits(null)).toBe(true)
  })

  it('SYNC-9.1 RELAY-EPOCH-2: a Weft peer’s update is admitted by its tag only', () => {
    const { record } = epochs()
    const t = makePath(SESSION, { record })
    t.path.step1(EMPTY_SV, hello(record.id))
    expect(t.path.admits(record.id)).toBe(true)
    expect(t.path.admits(null)).toBe(false)
    const zero = makePath(RELAY)
    zero.path.step1(EMPTY_SV, hello())
    expect(zero.path.admits(null)).toBe(true)
  })

  it('SYNC-9.7 RELAY-EPOCH-8: a request is answered only for an epoch this side left, and only with state', () => {
    const { old, record } = epochs()
    const t = makePath(RELAY, {
      record,
      offerFor: (e) => (e === '0' ? { record, catchUp: (sv) => Y.encodeStateAsUpdate(old, sv) } : null),
    })
    t.path.step1(EMPTY_SV, hello(record.id))
    t.sent.length = 0
    t.path.onRequest(record.id, EMPTY_SV)
    expect(t.sent).toHaveLength(0)
    t.path.onRequest('0', EMPTY_SV)
    const [offer] = t.messages()
    expect(offer?.type === 'epoch-offer' && offer.catchUp.byteLength).toBeGreaterThan(0)
    expect(() => t.path.onRequest('nope', EMPTY_SV)).toThrow(/malformed epoch request/)
  })

  it('SYNC-9.3 COMPACT-4.3: a winning offer goes to the sink with its judgement, a losing one is an archive answer', () => {
    const { record } = epochs()
    const t = makePath(SESSION)
    t.path.step1(EMPTY_SV, hello())
    t.path.onOffer(encodeEpochRecord(record), new Uint8Array(0))
    expect(t.offered).toEqual([
      { record: expect.objectContaining({ id: record.id }) as unknown, judgement: 'child' },
    ])
    const u = makePath(SESSION, { record })
    u.path.onOffer(encodeEpochRecord(record), new Uint8Array(0))
    expect(u.archived).toHaveLength(1)
    expect(() => u.path.onOffer(new Uint8Array([1, 2, 3]), new Uint8Array(0))).toThrow(/epoch record/)
    expect(() => u.path.onOffer(encodeEpochRecord(record), new Uint8Array([0xff, 0xff]))).toThrow(/catch-up/)
  })

  it('RELAY-EPOCH-4 SYNC-9.4: after a switch a stock relay client is refused, a Weft one greeted again', () => {
    const { record } = epochs()
    const stock = makePath(RELAY)
    stock.path.step1(EMPTY_SV, null)
    stock.setRecord(record)
    stock.path.epochChanged()
    expect(stock.refused).toEqual(['stale-epoch'])
    const reader = makePath(RELAY, { greets: false })
    reader.path.step1(EMPTY_SV, hello())
    reader.sent.length = 0
    reader.setRecord(record)
    reader.path.epochChanged()
    expect(reader.messages().map((m) => m.type)).toEqual(['sync-step1'])
    expect(reader.path.synced).toBe(false)
  })
})

describe('epoch rules (pure)', () => {
  it('SYNC-9.2: decideEnter', () => {
    const { record } = epochs()
    expect(decideEnter(null, null, '0', true)).toBe('sync')
    expect(decideEnter(null, record.id, '0', true)).toBe('reannounce')
    expect(decideEnter(record, null, '0', true)).toBe('offer')
    expect(decideEnter(record, null, '0', false)).toBe('stale')
    expect(decideEnter(null, null, record.id, true)).toBe('wait')
    expect(decideEnter(null, '0', record.id, true)).toBe('announce')
  })

  it('COMPACT-4.2 COMPACT-4.3: judgeOffer', () => {
    const { record } = epochs()
    expect(judgeOffer(record, '0')).toBe('child')
    expect(judgeOffer(record, record.id)).toBe('not-winning')
    const other = startEpoch(new Y.Doc(), { id: record.id, seq: record.seq }).record
    expect(judgeOffer(other, '0')).toBe('sibling')
  })
})

import { pino } from 'pino'
import * as Y from 'yjs'
import { type DocStore } from '@weft/core'
import {
  Feature,
  PROTOCOL_VERSION,
  Reassembler,
  decodeMessage,
  encodeSyncStep1,
  type Hello,
  type WireMessage,
} from '@weft/core/protocol'
import { MemoryDocStore } from '@weft/core/testing'
import type { Access } from '../../../src/auth/RoomGrant.js'
import { ServerMetrics } from '../../../src/metrics/ServerMetrics.js'
import { memoryRelaySocketPair, type MemoryRelayClient } from '../../../src/relay/MemoryRelaySocket.js'
import { RelayHub } from '../../../src/relay/RelayHub.js'
import type { RelayOptions } from '../../../src/relay/RelayOptions.js'
import { DEFAULT_LIMITS, type ServerLimits } from '../../../src/ServerLimits.js'

type Whole = Exclude<WireMessage, { type: 'chunk' }>

/** A relay hub over an in-memory store, without a server: connections are in-memory socket pairs. */
export interface MemoryRelay {
  readonly hub: RelayHub
  readonly store: DocStore
  /** Opens a connection to `room` and hands the relay's end to the hub. */
  connect(room: string, access?: Exclude<Access, 'none'>): MemoryRelayClient
  close(): Promise<void>
}

export const startMemoryRelay = (
  setup: { store?: DocStore; limits?: Partial<ServerLimits>; options?: RelayOptions } = {},
): MemoryRelay => {
  const store = setup.store ?? new MemoryDocStore()
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...setup.limits }
  const metrics = new ServerMetrics({
    connections: () => [],
    topics: () => 0,
    docsLoaded: () => hub.docsLoaded,
    relayRooms: () => hub.roomCount,
  })
  const hub: RelayHub = new RelayHub({
    store,
    ownsStore: false,
    options: { commitWindowMs: 5, ...setup.options },
    limits,
    metrics,
    logger: pino({ level: 'silent' }),
  })
  return {
    hub,
    store,
    connect: (room, access = 'write') => {
      const { relay, client } = memoryRelaySocketPair()
      hub.accept(relay, room, access)
      return client
    },
    close: () => hub.close(),
  }
}

/** Weft's hello, as a client announces it (ack and chunk). */
export const weftHello = (hello: Partial<Hello> = {}): Hello => ({
  version: PROTOCOL_VERSION,
  features: Feature.Ack | Feature.Chunk,
  maxMessageSize: 64 * 1024 * 1024,
  ...hello,
})

/** Sends a sync step 1 for `doc` (with `hello` for a Weft client, without for a stock one). */
export const sendStep1 = (client: MemoryRelayClient, doc: Y.Doc, hello: Hello | null = weftHello()): void =>
  client.send(encodeSyncStep1(Y.encodeStateVector(doc), hello))

/** The next message of `type` the relay sent to `client` (chunked messages are not reassembled). */
export const nextOf = async <T extends Whole['type']>(
  client: MemoryRelayClient,
  type: T,
): Promise<Extract<Whole, { type: T }>> =>
  decodeMessage(await client.next((m) => decodeMessage(m).type === type)) as Extract<Whole, { type: T }>

/** Every message the relay sent to `client` so far, decoded, chunks reassembled. */
export const decodedAll = (client: MemoryRelayClient): Whole[] => {
  const reassembler = new Reassembler({ maxMessageSize: 64 * 1024 * 1024 })
  const out: Whole[] = []
  for (const bytes of client.received) {
    const message = decodeMessage(bytes)
    if (message.type !== 'chunk') {
      out.push(message)
      continue
    }
    const whole = reassembler.add(message.id, message.total, message.offset, message.data)
    if (whole) out.push(decodeMessage(whole) as Whole)
  }
  return out
}

/** One small update: `text` inserted into the text "t" of a fresh document with client id `client`. */
export const textUpdate = (text: string, client = 1): Uint8Array => {
  const doc = new Y.Doc()
  doc.clientID = client
  doc.getText('t').insert(0, text)
  return Y.encodeStateAsUpdate(doc)
}

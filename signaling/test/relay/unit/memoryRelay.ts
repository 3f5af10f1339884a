import { pino } from 'pino'
import * as Y from 'yjs'
import { docId, type DocStore, type StoredDoc } from '@weft/core'
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
import { GroupCommitter } from '../../../src/relay/GroupCommitter.js'
import { RelayCompaction } from '../../../src/relay/RelayCompaction.js'
import { PresenceTicker } from '../../../src/relay/PresenceTicker.js'
import { RelayEpochs } from '../../../src/relay/RelayEpochs.js'
import { RelayHub } from '../../../src/relay/RelayHub.js'
import type { RelayOptions } from '../../../src/relay/RelayOptions.js'
import { RelayRoom, type RoomServices } from '../../../src/relay/RelayRoom.js'
import type { SharedMessage } from '../../../src/relay/SharedMessage.js'
import type { UpdateLog } from '../../../src/relay/UpdateLog.js'
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

/**
 * What a hub gives its rooms, made over `store` without a hub: for tests of one room (and of what sits on a room,
 * such as a scale-out room) without connections or a server.
 */
export const roomServices = (
  store: DocStore = new MemoryDocStore(),
  options: RelayOptions = {},
): RoomServices & { readonly relayEpochs: RelayEpochs } => {
  const logger = pino({ level: 'silent' })
  const relayEpochs = new RelayEpochs({
    store,
    logger,
    epochs: options.epochs,
    scaleOut: false,
    screened: false,
  })
  const metrics = new ServerMetrics({
    connections: () => [],
    topics: () => 0,
    docsLoaded: () => 0,
    relayRooms: () => 0,
  })
  return {
    committer: new GroupCommitter(store, options.commitWindowMs ?? 5, metrics, logger),
    compaction: new RelayCompaction({ store, logger, metrics, scale: null }, options.compaction),
    epochs: relayEpochs.settings,
    relayEpochs,
    maxDocBytes: DEFAULT_LIMITS.maxDocBytes,
    metrics,
    logger,
    stored: null,
    // As the hub does: one presence ticker for every room made from these services (RELAY-6.8).
    presenceTicker: new PresenceTicker(),
  }
}

/** A room of `id` loaded from `stored` (nothing by default), on its own {@link roomServices}. */
export const testRoom = (id = 'r', stored: StoredDoc | null = null, services = roomServices()): RelayRoom =>
  new RelayRoom(docId(id), stored, services)

/**
 * Appends `update` to `room`'s log behind the room's back, as a load or the room's own accepted update would have
 * put it there: for tests of what comes after (the room is its log's one writer in the relay itself).
 */
export const appendToLog = (room: RelayRoom, update: Uint8Array): void => {
  ;(room.log as UpdateLog<SharedMessage>).append(update)
}

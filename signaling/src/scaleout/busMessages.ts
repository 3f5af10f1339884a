import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

/** Version byte of every bus message; a node ignores messages of another version. */
export const BUS_PROTOCOL_VERSION = 1

/** A message between nodes on the Redis bus (docs/spec/relay-protocol.md, SCALE-2 and SCALE-3). */
export type BusMessage =
  /** An update the origin node stored under `clock` (published only once durable). */
  | { readonly type: 'update'; readonly origin: string; readonly clock: number; readonly update: Uint8Array }
  /** Presence (a y-protocols awareness update) of clients connected to the origin node. */
  | { readonly type: 'awareness'; readonly origin: string; readonly update: Uint8Array }
  /** A node loaded the room: every node answers with the presence of its own clients. */
  | { readonly type: 'presence-query'; readonly origin: string }
  /** The origin node compacted the room's stored log through `clock` into a snapshot of `bytes` bytes. */
  | { readonly type: 'compacted'; readonly origin: string; readonly clock: number; readonly bytes: number }
  /** Node liveness, on the nodes channel. */
  | { readonly type: 'heartbeat'; readonly origin: string }
  /** The origin node shuts down: its clients' presence is gone. */
  | { readonly type: 'bye'; readonly origin: string }
  /**
   * SCALE-2.9: the origin node stored an update of `bytes` bytes under `clock`, too large to publish (read it from
   * the store). A node of an older version ignores it and catches up at its next gap or sweep.
   */
  | { readonly type: 'stored'; readonly origin: string; readonly clock: number; readonly bytes: number }

const TYPES = ['update', 'awareness', 'presence-query', 'compacted', 'heartbeat', 'bye', 'stored'] as const

/**
 * SCALE-2.9: an update at least this large is published by reference ({@link BusMessage} `stored`): Redis's default
 * output buffer limit of a pub/sub client is 32 MiB (hard), and a subscriber past it is disconnected.
 */
export const BUS_INLINE_MAX_BYTES = 1 << 20

/** Encodes a bus message: version, type, origin node id, then the type's fields. */
export const encodeBusMessage = (m: BusMessage): Buffer => {
  const e = encoding.createEncoder()
  encoding.writeUint8(e, BUS_PROTOCOL_VERSION)
  encoding.writeUint8(e, TYPES.indexOf(m.type))
  encoding.writeVarString(e, m.origin)
  switch (m.type) {
    case 'update':
      encoding.writeVarUint(e, m.clock)
      encoding.writeVarUint8Array(e, m.update)
      break
    case 'awareness':
      encoding.writeVarUint8Array(e, m.update)
      break
    case 'compacted':
    case 'stored':
      encoding.writeVarUint(e, m.clock)
      encoding.writeVarUint(e, m.bytes)
      break
    default:
      break
  }
  const bytes = encoding.toUint8Array(e)
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** Decodes a bus message; `null` for another protocol version or bytes that do not decode. */
export const decodeBusMessage = (data: Uint8Array): BusMessage | null => {
  try {
    const d = decoding.createDecoder(data)
    if (decoding.readUint8(d) !== BUS_PROTOCOL_VERSION) return null
    const type = TYPES[decoding.readUint8(d)]
    const origin = decoding.readVarString(d)
    switch (type) {
      case 'update':
        return { type, origin, clock: decoding.readVarUint(d), update: decoding.readVarUint8Array(d) }
      case 'awareness':
        return { type, origin, update: decoding.readVarUint8Array(d) }
      case 'compacted':
      case 'stored':
        return { type, origin, clock: decoding.readVarUint(d), bytes: decoding.readVarUint(d) }
      case 'presence-query':
      case 'heartbeat':
      case 'bye':
        return { type, origin }
      default:
        return null
    }
  } catch {
    return null
  }
}

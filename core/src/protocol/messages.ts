/**
 * The wire format: y-protocols' sync and awareness messages, plus Weft's negotiated extensions. See
 * docs/spec/sync-protocol.md for the rules (ids `SYNC-*`) that this file implements.
 *
 * Every message starts with a varUint message type:
 * - `0` sync: varUint sub-type `0` step 1 (state vector), `1` step 2 (diff), `2` update. (y-protocols)
 * - `1` awareness: varUint8Array awareness update. (y-protocols)
 * - `2` auth: varUint `0` (permission denied) + varString reason. (y-websocket)
 * - `3` query awareness. (y-protocols)
 * - `87` Weft extension: varUint sub-type `0` ack, `1` chunk, `2` epoch offer, `3` epoch request, `4` rejected,
 *   `5` rolled back.
 *   Sent only to peers that announced Weft.
 *
 * Negotiation (SYNC-2.x): a Weft peer appends a hello trailer after the state vector of its sync step 1. Stock
 * y-protocols readers ignore bytes after the state vector, so stock peers never see anything they do not know.
 * A Weft peer appends a varUint sequence number after the update bytes of step 2 and update messages, but only
 * towards a peer that announced the `ack` feature.
 *
 * Epochs (docs/spec/compaction.md, COMPACT-6): the hello carries the sender's epoch id after `maxMessageSize`
 * (absent = the initial epoch `"0"`). Towards a peer that announced an epoch, updates outside the initial epoch
 * carry a trailer `seq` (0 = none) + varString epoch, so an update can never be applied in another epoch, whatever
 * order messages arrive in.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { WeftError, WeftErrorCode } from '../WeftError.js'
import { readBytes, readString } from './checkedDecoding.js'

export const MessageType = {
  Sync: 0,
  Awareness: 1,
  Auth: 2,
  QueryAwareness: 3,
  Weft: 87,
} as const

export const SyncType = { Step1: 0, Step2: 1, Update: 2 } as const
export const WeftType = {
  Ack: 0,
  Chunk: 1,
  EpochOffer: 2,
  EpochRequest: 3,
  Rejected: 4,
  RolledBack: 5,
} as const

/** Feature bits of the Weft hello. */
export const Feature = {
  /**
   * The peer acknowledges what it durably stored: send it sequence numbers with updates. (Every Weft peer
   * understands acks; only peers with storage send them.)
   */
  Ack: 1,
  /** The peer reassembles chunked messages. */
  Chunk: 2,
  /**
   * The peer rolls back an update the other side rejected under its rules (docs/spec/rules.md, RULES-4.3): send it a
   * `rejected` message instead of closing the connection.
   */
  Rollback: 4,
} as const

/** The current Weft protocol version. */
export const PROTOCOL_VERSION = 2
const HELLO_MAGIC = 'weft'

/** What a Weft peer announces in the trailer of its sync step 1. */
export interface Hello {
  readonly version: number
  /** Bitmask of {@link Feature}. */
  readonly features: number
  /** Largest (reassembled) message this peer accepts, in bytes. */
  readonly maxMessageSize: number
  /**
   * The sender's epoch (COMPACT-6.1); `null` when the peer did not say (a peer of protocol version 1), which means
   * the initial epoch `"0"`.
   */
  readonly epoch?: string | null
}

/** A decoded wire message. */
export type WireMessage =
  | { readonly type: 'sync-step1'; readonly stateVector: Uint8Array; readonly hello: Hello | null }
  | {
      readonly type: 'sync-step2'
      readonly update: Uint8Array
      readonly seq: number | null
      /** The epoch the update belongs to, when the sender tagged it (COMPACT-6.1); untagged = `"0"`. */
      readonly epoch: string | null
    }
  | {
      readonly type: 'sync-update'
      readonly update: Uint8Array
      readonly seq: number | null
      readonly epoch: string | null
    }
  | { readonly type: 'awareness'; readonly update: Uint8Array }
  | { readonly type: 'auth-denied'; readonly reason: string }
  | { readonly type: 'query-awareness' }
  | { readonly type: 'ack'; readonly seq: number }
  | {
      readonly type: 'chunk'
      readonly id: number
      readonly total: number
      readonly offset: number
      readonly data: Uint8Array
    }
  | {
      readonly type: 'epoch-offer'
      /** An encoded epoch record (`encodeEpochRecord`), decoded and verified by the receiver. */
      readonly record: Uint8Array
      /**
       * Old-epoch catch-up (COMPACT-5.1): a V1 update of the record's parent epoch holding what the receiver lacks of
       * it (computed from the receiver's step-1 state vector), or empty when the sender kept no such document.
       */
      readonly catchUp: Uint8Array
    }
  | {
      readonly type: 'epoch-request'
      /** An epoch the sender left without keeping its document, and needs to serve peers that come back from it. */
      readonly epoch: string
      /** What the sender holds of it (usually nothing): the answer is an offer whose catch-up is relative to this. */
      readonly stateVector: Uint8Array
    }
  | {
      readonly type: 'rejected'
      /** The sequence number of the rejected update; `null` when it was not numbered. */
      readonly seq: number | null
      /** The rule it broke (docs/spec/rules.md, RULES-1.3), e.g. `shapes.x.max`. */
      readonly ruleId: string
      /** Where, as `/`-joined segments (`shapes/s1/x`); empty when the rule is about no one place. */
      readonly path: string
      /** Why, for people. */
      readonly reason: string
    }
  | {
      readonly type: 'rolled-back'
      /**
       * The writer's client id from now on (RULES-5.2), for logs: the writer rolled back the update the other side
       * rejected, and the updates it sends from here on may be taken again (RULES-5.1).
       */
      readonly clientId: number
    }

const malformed = (detail: string, cause?: unknown): WeftError =>
  new WeftError(WeftErrorCode.MalformedMessage, `malformed message: ${detail}`, { cause })

const readHello = (decoder: decoding.Decoder): Hello | null => {
  if (!decoding.hasContent(decoder)) return null
  // A trailer that is not ours is ignored (forward compatibility), never an error.
  try {
    if (readString(decoder) !== HELLO_MAGIC) return null
    const version = decoding.readVarUint(decoder)
    const features = decoding.readVarUint(decoder)
    const maxMessageSize = decoding.readVarUint(decoder)
    const epoch = decoding.hasContent(decoder) ? readString(decoder) : null
    return { version, features, maxMessageSize, epoch }
  } catch {
    return null
  }
}

const readSeq = (decoder: decoding.Decoder): number | null => {
  if (!decoding.hasContent(decoder)) return null
  const seq = decoding.readVarUint(decoder)
  return seq === 0 ? null : seq
}

const readEpochTag = (decoder: decoding.Decoder): string | null =>
  decoding.hasContent(decoder) ? readString(decoder) : null

/**
 * Decodes one message. Throws a `malformed-message` {@link WeftError} for anything truncated, unknown or
 * inconsistent; never returns a partially decoded message.
 */
export const decodeMessage = (data: Uint8Array): WireMessage => {
  const decoder = decoding.createDecoder(data)
  try {
    const type = decoding.readVarUint(decoder)
    switch (type) {
      case MessageType.Sync: {
        const sub = decoding.readVarUint(decoder)
        switch (sub) {
          case SyncType.Step1: {
            const stateVector = readBytes(decoder)
            return { type: 'sync-step1', stateVector, hello: readHello(decoder) }
          }
          case SyncType.Step2:
          case SyncType.Update: {
            const update = readBytes(decoder)
            const seq = readSeq(decoder)
            const epoch = readEpochTag(decoder)
            return { type: sub === SyncType.Step2 ? 'sync-step2' : 'sync-update', update, seq, epoch }
          }
          default:
            throw malformed(`unknown sync message type ${sub}`)
        }
      }
      case MessageType.Awareness:
        return { type: 'awareness', update: readBytes(decoder) }
      case MessageType.Auth: {
        const sub = decoding.readVarUint(decoder)
        if (sub !== 0) throw malformed(`unknown auth message type ${sub}`)
        return { type: 'auth-denied', reason: readString(decoder) }
      }
      case MessageType.QueryAwareness:
        return { type: 'query-awareness' }
      case MessageType.Weft: {
        const sub = decoding.readVarUint(decoder)
        switch (sub) {
          case WeftType.Ack:
            return { type: 'ack', seq: decoding.readVarUint(decoder) }
          case WeftType.Chunk: {
            const id = decoding.readVarUint(decoder)
            const total = decoding.readVarUint(decoder)
            const offset = decoding.readVarUint(decoder)
            const chunk = readBytes(decoder)
            if (total === 0 || offset + chunk.length > total) throw malformed('chunk outside its message')
            return { type: 'chunk', id, total, offset, data: chunk }
          }
          case WeftType.EpochOffer: {
            const record = readBytes(decoder)
            const catchUp = readBytes(decoder)
            return { type: 'epoch-offer', record, catchUp }
          }
          case WeftType.EpochRequest: {
            const epoch = readString(decoder)
            const stateVector = readBytes(decoder)
            return { type: 'epoch-request', epoch, stateVector }
          }
          case WeftType.Rejected: {
            const seq = decoding.readVarUint(decoder)
            const ruleId = readString(decoder)
            const path = readString(decoder)
            const reason = readString(decoder)
            return { type: 'rejected', seq: seq === 0 ? null : seq, ruleId, path, reason }
          }
          case WeftType.RolledBack:
            return { type: 'rolled-back', clientId: decoding.readVarUint(decoder) }
          default:
            throw malformed(`unknown weft message type ${sub}`)
        }
      }
      default:
        throw malformed(`unknown message type ${type}`)
    }
  } catch (err) {
    if (err instanceof WeftError) throw err
    throw malformed(err instanceof Error ? err.message : String(err), err)
  }
}

const finish = (write: (encoder: encoding.Encoder) => void): Uint8Array => {
  const encoder = encoding.createEncoder()
  write(encoder)
  return encoding.toUint8Array(encoder)
}

/** Sync step 1; with `hello`, the Weft trailer that stock peers ignore (SYNC-2.1). */
export const encodeSyncStep1 = (stateVector: Uint8Array, hello?: Hello | null): Uint8Array =>
  finish((e) => {
    encoding.writeVarUint(e, MessageType.Sync)
    encoding.writeVarUint(e, SyncType.Step1)
    encoding.writeVarUint8Array(e, stateVector)
    if (hello) {
      encoding.writeVarString(e, HELLO_MAGIC)
      encoding.writeVarUint(e, hello.version)
      encoding.writeVarUint(e, hello.features)
      encoding.writeVarUint(e, hello.maxMessageSize)
      if (hello.epoch != null) encoding.writeVarString(e, hello.epoch)
    }
  })

/** The Weft trailer of a step 2 or update: the sequence number and the epoch, when there are any (SYNC-4, 9). */
const writeUpdateTrailer = (
  e: encoding.Encoder,
  seq: number | null | undefined,
  epoch: string | null | undefined,
): void => {
  if (seq != null || epoch != null) encoding.writeVarUint(e, seq ?? 0)
  if (epoch != null) encoding.writeVarString(e, epoch)
}

const encodeUpdateLike = (
  sub: number,
  update: Uint8Array,
  seq: number | null | undefined,
  epoch: string | null | undefined,
): Uint8Array =>
  finish((e) => {
    encoding.writeVarUint(e, MessageType.Sync)
    encoding.writeVarUint(e, sub)
    encoding.writeVarUint8Array(e, update)
    writeUpdateTrailer(e, seq, epoch)
  })

/**
 * Sync step 2 (the diff answering a step 1); `seq` only towards peers with the ack feature, `epoch` only towards
 * peers that announced an epoch and only outside the initial epoch (COMPACT-6.1).
 */
export const encodeSyncStep2 = (update: Uint8Array, seq?: number | null, epoch?: string | null): Uint8Array =>
  encodeUpdateLike(SyncType.Step2, update, seq, epoch)

/** An incremental update; `seq` and `epoch` as for {@link encodeSyncStep2}. */
export const encodeSyncUpdate = (
  update: Uint8Array,
  seq?: number | null,
  epoch?: string | null,
): Uint8Array => encodeUpdateLike(SyncType.Update, update, seq, epoch)

/**
 * The message {@link encodeSyncStep2} (`kind` 'step2') or {@link encodeSyncUpdate} ('update') would return, as
 * parts whose concatenation is that message: a short head, `update` itself (not copied) and a short trailer (empty
 * without `seq` and `epoch`). For writers that copy them once into a buffer of their own (a WebSocket frame)
 * instead of encoding the update into a message first: a 20 MB answer is then copied once, not three times.
 */
export const updateMessageParts = (
  kind: 'step2' | 'update',
  update: Uint8Array,
  seq?: number | null,
  epoch?: string | null,
): readonly [head: Uint8Array, update: Uint8Array, trailer: Uint8Array] => {
  const head = finish((e) => {
    encoding.writeVarUint(e, MessageType.Sync)
    encoding.writeVarUint(e, kind === 'step2' ? SyncType.Step2 : SyncType.Update)
    encoding.writeVarUint(e, update.byteLength)
  })
  const trailer = finish((e) => writeUpdateTrailer(e, seq, epoch))
  return [head, update, trailer]
}

/** Offers an epoch to a peer in an older one (COMPACT-6.1): the record and the old-epoch catch-up (may be empty). */
export const encodeEpochOffer = (record: Uint8Array, catchUp: Uint8Array): Uint8Array =>
  finish((e) => {
    encoding.writeVarUint(e, MessageType.Weft)
    encoding.writeVarUint(e, WeftType.EpochOffer)
    encoding.writeVarUint8Array(e, record)
    encoding.writeVarUint8Array(e, catchUp)
  })

/** An awareness update (y-protocols' encodeAwarenessUpdate output). */
export const encodeAwareness = (update: Uint8Array): Uint8Array =>
  finish((e) => {
    encoding.writeVarUint(e, MessageType.Awareness)
    encoding.writeVarUint8Array(e, update)
  })

/** Asks the other side to send every awareness state it knows. */
export const encodeQueryAwareness = (): Uint8Array =>
  finish((e) => encoding.writeVarUint(e, MessageType.QueryAwareness))

/** y-websocket's "permission denied" auth message. */
export const encodeAuthDenied = (reason: string): Uint8Array =>
  finish((e) => {
    encoding.writeVarUint(e, MessageType.Auth)
    encoding.writeVarUint(e, 0)
    encoding.writeVarString(e, reason)
  })

/** Durable ack: every sequenced update this side received with `seq <=` this is durably stored (SYNC-4.x). */
export const encodeAck = (seq: number): Uint8Array =>
  finish((e) => {
    encoding.writeVarUint(e, MessageType.Weft)
    encoding.writeVarUint(e, WeftType.Ack)
    encoding.writeVarUint(e, seq)
  })

/** One piece of a chunked message (SYNC-5.x). */
export const encodeChunk = (id: number, total: number, offset: number, data: Uint8Array): Uint8Array =>
  finish((e) => {
    encoding.writeVarUint(e, MessageType.Weft)
    encoding.writeVarUint(e, WeftType.Chunk)
    encoding.writeVarUint(e, id)
    encoding.writeVarUint(e, total)
    encoding.writeVarUint(e, offset)
    encoding.writeVarUint8Array(e, data)
  })

/** Header bytes a chunk adds at most (type, sub-type, 3 varUints up to 2^53, length prefix). */
export const CHUNK_OVERHEAD = 2 + 3 * 8 + 5

/**
 * Asks for an old epoch's state (SYNC-9.7): the receiver answers with an epoch offer of the record that replaced
 * `epoch` and its copy of `epoch` beyond `stateVector`, if it kept one.
 */
export const encodeEpochRequest = (epoch: string, stateVector: Uint8Array): Uint8Array =>
  finish((e) => {
    encoding.writeVarUint(e, MessageType.Weft)
    encoding.writeVarUint(e, WeftType.EpochRequest)
    encoding.writeVarString(e, epoch)
    encoding.writeVarUint8Array(e, stateVector)
  })

/**
 * Tells a writer that announced `rollback` that its update was rejected under the room's rules and was neither stored
 * nor forwarded (RULES-4.3): its sequence number (0 when it had none), the rule id, the path (`/`-joined) and why.
 */
export const encodeRejected = (
  seq: number | null,
  ruleId: string,
  path: string,
  reason: string,
): Uint8Array =>
  finish((e) => {
    encoding.writeVarUint(e, MessageType.Weft)
    encoding.writeVarUint(e, WeftType.Rejected)
    encoding.writeVarUint(e, seq ?? 0)
    encoding.writeVarString(e, ruleId)
    encoding.writeVarString(e, path)
    encoding.writeVarString(e, reason)
  })

/**
 * Tells the side that rejected one of this writer's updates that the writer rolled it back (RULES-5.1): every update
 * the writer sent before this message was written before it knew, and is refused; the ones after it are checked
 * again. `clientId` is the writer's new client id (RULES-5.2), for logs.
 */
export const encodeRolledBack = (clientId: number): Uint8Array =>
  finish((e) => {
    encoding.writeVarUint(e, MessageType.Weft)
    encoding.writeVarUint(e, WeftType.RolledBack)
    encoding.writeVarUint(e, clientId)
  })

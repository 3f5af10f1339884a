import {
  DELETIONS_MATCHED_UPDATE,
  MessageType,
  addDeletions,
  decodeMessage,
  deletionsDigest,
  encodeSyncStep2,
  readDeletions,
  type DeleteRanges,
} from '@weft/core/protocol'
import { bytesOf, type SharedMessage } from '../relay/SharedMessage.js'

const equal = (a: Uint8Array, b: Uint8Array): boolean =>
  a.byteLength === b.byteLength && a.every((x, i) => x === b[i])

/**
 * WS-WIRE-6 on the relay: a subscription whose SUBSCRIBE carried the digest of the deletions the client holds gets
 * the relay's answer to its step 1 without them when the client holds them all. A Yjs step 2 carries the sender's
 * whole delete set, so the relay's answer to a client that is up to date is that delete set and nothing else (the
 * catalogue's: about a kilobyte at every reconnect). The room's answer (sync updates of its small tail, RELAY-2.3,
 * then the step 2) passes here: when the step 2 holds no struct and the deletions of the whole answer have the
 * client's digest, the step 2 goes out as `DELETIONS_MATCHED_UPDATE` (same epoch tag), which tells the client that
 * the relay holds exactly those deletions. Anything else (a chunked step 2, an
 * epoch offer, a step 2 with structs) goes out as it was, and so does everything after the first step 2.
 */
export class DeletionsTrim {
  readonly #digest: Uint8Array
  /** Deletions of the sync updates sent before the step 2. */
  readonly #early: DeleteRanges = new Map()
  #done = false

  constructor(digest: Uint8Array) {
    this.#digest = digest
  }

  /** A message of the room to the client: returns it, or its step 2 without the deletions the client holds. */
  outgoing(message: Uint8Array | SharedMessage): Uint8Array | SharedMessage {
    if (this.#done) return message
    const bytes = bytesOf(message)
    if (bytes[0] !== MessageType.Sync) return message
    let decoded: ReturnType<typeof decodeMessage>
    try {
      decoded = decodeMessage(bytes)
    } catch {
      this.#done = true
      return message
    }
    switch (decoded.type) {
      case 'sync-step1':
        return message
      case 'sync-update': {
        const read = readDeletions(decoded.update)
        if (read === null) this.#done = true
        else addDeletions(this.#early, read.deletions)
        return message
      }
      case 'sync-step2': {
        this.#done = true
        const read = readDeletions(decoded.update)
        if (read === null || read.structs) return message
        addDeletions(this.#early, read.deletions)
        if (!equal(deletionsDigest(this.#early), this.#digest)) return message
        return encodeSyncStep2(DELETIONS_MATCHED_UPDATE, decoded.seq, decoded.epoch)
      }
      default:
        this.#done = true
        return message
    }
  }
}

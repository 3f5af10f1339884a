import {
  MessageType,
  isDeletionsMatched,
  addDeletions,
  changesNothingOver,
  decodeMessage,
  encodeSyncStep2,
  readDeletions,
  type DeleteRanges,
  type WireMessage,
} from '@weft/core/protocol'

/** The empty Yjs update (no structs, no deletions): what the relay acknowledges without storing (RELAY-3.2). */
const EMPTY_UPDATE = new Uint8Array([0, 0])

const decodeOrNull = (data: Uint8Array): WireMessage | null => {
  try {
    return decodeMessage(data)
  } catch {
    return null
  }
}

/** A step 2 held until the relay's: the messages that carry it (it, or its chunks) and what it says. */
interface Held {
  readonly out: Uint8Array[]
  readonly update: Uint8Array
  readonly seq: number | null
  readonly epoch: string | null
}

/**
 * WS-CLIENT-LINK-9: keeps a handshake of a document both sides hold from storing anything at the relay. A Yjs step 2
 * always carries the sender's whole delete set, so the client's answer to the relay's step 1 is never empty for a
 * document with deletions, and the relay stores every update that is not empty: each handshake would be a change of
 * the workspace (a new change number, CHANGED to every replica, each of which syncs the document briefly, whose own
 * answer is a change again...). So a step 2 the client sends that holds no struct waits for the relay's step 2 (which
 * carries the relay's whole delete set); if the relay has every deletion of it, it goes out as an empty update (same
 * sequence number and epoch tag: the relay acknowledges it as usual), else as it was. Updates the relay sends
 * before its step 2 (the small tail it serves first, RELAY-2.3) count with it. Anything else from the relay first (a
 * chunked step 2, an epoch offer) sends it as it was. One per subscription. The relay stores no such handshake
 * either way (RELAY-3.9): this saves the bytes of the client's delete set. A step 2 the client's session sends in
 * chunks (a delete set over the chunk size, 16 KiB: the catalogue's at 10,000 records is ~38 KB) is held the same way:
 * its chunks wait until the last one, and it is judged whole (before, they went out as they were, every reconnection).
 */
export class HandshakeEcho {
  /** The relay's deletions seen on this subscription; `null` until its step 2. */
  #relay: DeleteRanges | null = null
  /** The deletions whose digest this subscription's SUBSCRIBE carried (WS-WIRE-6). */
  #sent: DeleteRanges | null = null
  /** Deletions of updates the relay sent before its step 2. */
  #early: DeleteRanges | null = null
  /** The relay's step 2 never came as one message: nothing is held or rewritten any more. */
  #passing = false
  #held: Held[] = []
  /** The chunks of an outgoing message held until its last one (the session sends them in order). */
  #chunks: { id: number; whole: Uint8Array; received: number; out: Uint8Array[] } | null = null

  /** An outgoing message: returns the messages to send now (it, a rewritten one, or none while it is held). */
  outgoing(data: Uint8Array): Uint8Array[] {
    // Presence may overtake a held step 2; anything else keeps its order behind it.
    if (data[0] === MessageType.Awareness || data[0] === MessageType.QueryAwareness) return [data]
    if (this.#passing) return this.#flushWith(data)
    if (data[0] === MessageType.Weft) return this.#chunk(data)
    if (data[0] !== MessageType.Sync) return this.#flushWith(data)
    return this.#step2(data, [data])
  }

  /** A whole outgoing message `data`, sent as `out` (it, or its chunks): held if a step 2 with no struct. */
  #step2(data: Uint8Array, out: Uint8Array[]): Uint8Array[] {
    const message = decodeOrNull(data)
    // Only a step 2 with no struct may change nothing; it waits for the relay's deletions.
    if (message?.type !== 'sync-step2' || message.update[0] !== 0) return this.#flushWith(...out)
    const held = { out, update: message.update, seq: message.seq, epoch: message.epoch }
    if (this.#relay === null) {
      this.#held.push(held)
      return []
    }
    return this.#rewrite(held)
  }

  /** One outgoing chunk: held until its message's last chunk, then judged as that message. */
  #chunk(data: Uint8Array): Uint8Array[] {
    const message = decodeOrNull(data)
    if (message?.type !== 'chunk') return this.#flushWith(data)
    // Chunks of another message held before go first, as they were: order is kept.
    const out: Uint8Array[] = []
    if (this.#chunks !== null && this.#chunks.id !== message.id) {
      out.push(...this.#chunks.out)
      this.#chunks = null
    }
    this.#chunks ??= { id: message.id, whole: new Uint8Array(message.total), received: 0, out: [] }
    const c = this.#chunks
    c.out.push(data)
    c.whole.set(message.data, message.offset)
    c.received += message.data.byteLength
    if (c.received < c.whole.byteLength) return out
    this.#chunks = null
    return [...out, ...this.#step2(c.whole, c.out)]
  }

  /** An incoming message from the relay: returns held messages that may go out now. */
  incoming(data: Uint8Array): Uint8Array[] {
    if (this.#passing) return []
    const message = decodeOrNull(data)
    if (message === null) return []
    switch (message.type) {
      case 'sync-step1':
      case 'awareness':
      case 'query-awareness':
      case 'ack':
        return []
      case 'sync-step2':
      case 'sync-update': {
        const read = readDeletions(message.update)
        if (read === null) break
        if (this.#relay === null && message.type === 'sync-update') {
          // Before the relay's step 2: the small tail it serves first as one update (RELAY-2.3), or another member's
          // update; deletions the relay holds either way, kept for the step 2 that follows.
          addDeletions((this.#early ??= new Map()), read.deletions)
          return []
        }
        this.#relay ??= this.#early ?? new Map()
        addDeletions(this.#relay, read.deletions)
        // WS-WIRE-6: the relay holds exactly the deletions of the digest this subscription sent.
        if (message.type === 'sync-step2' && this.#sent !== null && isDeletionsMatched(message.update))
          addDeletions(this.#relay, this.#sent)
        return this.#held.splice(0).flatMap((h) => this.#rewrite(h))
      }
      default:
        break
    }
    // Not the relay's step 2 as one message: held messages go out as they were, and later ones too.
    this.#passing = true
    return this.#held.splice(0).flatMap((h) => h.out)
  }

  /**
   * A new subscription (the last one ended: held messages are dropped, the next handshake sends what is still
   * needed); `sent`: the deletions whose digest its SUBSCRIBE carries (WS-WIRE-6), or `null`.
   */
  reset(sent: DeleteRanges | null = null): void {
    this.#sent = sent
    this.#relay = null
    this.#early = null
    this.#passing = false
    this.#held = []
    this.#chunks = null
  }

  #flushWith(...data: Uint8Array[]): Uint8Array[] {
    // Order is kept: a held step 2 (and chunks held) go out before a later message as they were.
    const out = this.#held.splice(0).flatMap((h) => h.out)
    if (this.#chunks !== null) out.push(...this.#chunks.out)
    this.#chunks = null
    out.push(...data)
    return out
  }

  #rewrite(h: Held): Uint8Array[] {
    // The relay's own decision (RELAY-3.9): what it would store nothing of goes out as the empty update.
    return changesNothingOver(h.update, () => this.#relay)
      ? [encodeSyncStep2(EMPTY_UPDATE, h.seq, h.epoch)]
      : h.out
  }
}

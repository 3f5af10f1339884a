/**
 * Names one socket implementation's encoding of a {@link SharedMessage} (e.g. the RFC 6455 frame), so that each
 * implementation caches its own encoding on the message without knowing about the others. Create one per
 * implementation, at module level.
 */
export class EncodingKey<T> {
  /** For debugging only. */
  readonly name: string
  /** Carries the encoding's type; never set. */
  declare readonly encodingType?: T

  constructor(name: string) {
    this.name = name
  }
}

/**
 * One binary message sent to many sockets (a broadcast, an answer cached for a join storm), given as the parts of
 * its payload so that it is copied once, into whatever each socket implementation writes. A socket that can
 * prepare its bytes ahead caches that preparation on the message ({@link SharedMessage.encoded}): the project's
 * WebSocket layer builds the frame once and writes the same bytes to every socket (docs/architecture.md, "The
 * server speaks WebSocket itself").
 *
 * Immutable once created: neither the parts nor the encodings built from them may change.
 */
export class SharedMessage {
  /** The payload, in order. Not copied: the caller must not change them afterwards. */
  readonly parts: readonly Uint8Array[]
  /** Bytes of the payload (all parts together). */
  readonly byteLength: number
  #bytes: Uint8Array | null = null
  // One encoding inline (the common case: one socket implementation), more in a map.
  #key: EncodingKey<unknown> | null = null
  #encoding: unknown = null
  #more: Map<EncodingKey<unknown>, unknown> | null = null

  constructor(parts: readonly Uint8Array[]) {
    this.parts = parts
    let length = 0
    for (const part of parts) length += part.byteLength
    this.byteLength = length
  }

  /** The first byte of the payload (the message type), without joining the parts; undefined when empty. */
  get firstByte(): number | undefined {
    for (const part of this.parts) if (part.byteLength > 0) return part[0]
    return undefined
  }

  /**
   * The payload as one array: the part itself when there is one, else the parts copied together once (on first
   * use) and kept.
   */
  bytes(): Uint8Array {
    if (this.#bytes) return this.#bytes
    if (this.parts.length === 1) return (this.#bytes = this.parts[0] as Uint8Array)
    const out = new Uint8Array(this.byteLength)
    let offset = 0
    for (const part of this.parts) {
      out.set(part, offset)
      offset += part.byteLength
    }
    return (this.#bytes = out)
  }

  /**
   * This message's encoding for the implementation named by `key`: built by `encode` on first use, then the same
   * value for every later call with that key.
   */
  encoded<T>(key: EncodingKey<T>, encode: (message: SharedMessage) => T): T {
    if (this.#key === key) return this.#encoding as T
    if (this.#key === null) {
      const value = encode(this)
      this.#key = key
      this.#encoding = value
      return value
    }
    const more = (this.#more ??= new Map())
    if (more.has(key)) return more.get(key) as T
    const value = encode(this)
    more.set(key, value)
    return value
  }
}

/** The payload of a message given either way, as one array ({@link SharedMessage.bytes} for a shared one). */
export const bytesOf = (message: Uint8Array | SharedMessage): Uint8Array =>
  message instanceof SharedMessage ? message.bytes() : message

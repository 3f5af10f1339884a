import { isUtf8 } from 'node:buffer'
import { Opcode, WsCloseCode, isValidCloseCode, unmask } from './frames.js'

/** What a {@link FrameParser} reports. Exactly one of these per complete frame or message; nothing after an error. */
export interface FrameSink {
  /** A complete data message (fragments joined, unmasked; text already checked to be UTF-8). */
  onMessage(data: Buffer, isBinary: boolean): void
  /** A ping (payload at most 125 bytes). */
  onPing(data: Buffer): void
  /** A pong. */
  onPong(data: Buffer): void
  /** A close frame: `code` is 1005 (no status) when the frame had no payload. */
  onCloseFrame(code: number, reason: string): void
  /**
   * The peer broke the protocol; the parser stops. `code` is the close code to answer with: 1002 (protocol error),
   * 1007 (invalid UTF-8) or 1009 (message over the maximum size, detected from the frame header before buffering).
   */
  onProtocolError(code: number, reason: string): void
  /**
   * The bytes the parser holds for an unfinished message (a frame still arriving, or the fragments of a message)
   * grew (`delta` > 0) or were released (`delta` < 0). Reported as they change, not when the message completes
   * (CONN-11.1), so the owner can charge them to a memory budget.
   */
  onHeldBytes?(delta: number): void
}

const EMPTY: Buffer = Buffer.alloc(0)

/** First allocation for a message whose end is not known yet (a fragment); doubles from there. */
const MIN_CAPACITY = 16 * 1024

/**
 * An incremental parser of client-to-server WebSocket frames (RFC 6455 §5): every header field is bounds-checked,
 * client frames must be masked, reserved bits must be clear (no extension is ever negotiated), control frames must
 * be final and at most 125 bytes, fragments must continue a message in progress, and the size of a message (all its
 * fragments) is checked against `maxPayload` from each header, before its payload is buffered. Bytes may arrive
 * split at any boundary; each rule is decided as soon as the bytes it needs have arrived (a control frame's length
 * from the second byte, a message's size before its masking key). Accepts, rejects and delivers what `ws`'s receiver
 * does (CONN-9.5, checked differentially). A frame contained in one chunk is unmasked in place and handed on as a
 * view (no copy).
 *
 * Memory (CONN-11.1): a message that spans chunks or frames is copied into one buffer that grows as its bytes
 * arrive (doubling, never past the frame's known end or `maxPayload`), never allocated at the size a header
 * declares; the bytes held are reported through {@link FrameSink.onHeldBytes}. Parsing can be held between frames
 * ({@link FrameParser.hold}): the rest of the chunk waits, unparsed, until {@link FrameParser.release}.
 */
export class FrameParser {
  readonly #sink: FrameSink
  readonly #maxPayload: number
  /** Bytes of an incomplete header (less than 14), kept until the next chunk. */
  #head: Buffer | null = null
  /** Payload bytes of the current frame still to come; -1 between frames. */
  #remaining = -1
  /** Header fields of the frame whose payload is arriving, and how much of it arrived (the unmasking phase). */
  #fin = false
  #opcode = 0
  #mask = 0
  #phase = 0
  /** A control frame's payload that spans chunks (at most 125 bytes). */
  #control: Buffer | null = null
  /** The data message being assembled (its capacity grows as bytes arrive) and the bytes in it. */
  #message: Buffer | null = null
  #length = 0
  /** Opcode of the data message in progress (text or binary); whether it is fragmented and not finished. */
  #messageOpcode = 0
  #fragmented = false
  /** Payload bytes received into unfinished messages so far (monotonic): progress, for stall detection. */
  #progress = 0
  #stopped = false
  /** Data frames are checked and skipped, not buffered or delivered ({@link FrameParser.discardData}). */
  #discard = false
  #held = false
  /** Bytes received while held, parsed on release. */
  #rest: Buffer | null = null

  constructor(sink: FrameSink, maxPayload: number) {
    this.#sink = sink
    this.#maxPayload = maxPayload
  }

  /** Whether the parser stopped (after a protocol error or {@link FrameParser.stop}). */
  get stopped(): boolean {
    return this.#stopped
  }

  /** Whether parsing is held ({@link FrameParser.hold}). */
  get held(): boolean {
    return this.#held
  }

  /** Payload bytes ever received into unfinished data messages (grows while a partial message progresses). */
  get progress(): number {
    return this.#progress
  }

  /** Bytes held for the unfinished message (its buffer's capacity). */
  get heldBytes(): number {
    return this.#message?.length ?? 0
  }

  /** Ignores everything from now on (after a close frame, or when the connection is gone); frees what it held. */
  stop(): void {
    this.#stopped = true
    this.#head = null
    this.#control = null
    this.#rest = null
    this.#dropMessage()
  }

  /**
   * From now on data frames are checked and skipped, never buffered or delivered; the unfinished message is
   * dropped (its bytes released). For a connection whose close handshake started: only control frames (the peer's
   * close) still matter, and nothing it sends meanwhile costs memory.
   */
  discardData(): void {
    if (this.#discard) return
    this.#discard = true
    const held = this.#message?.length ?? 0
    this.#message = null
    this.#length = 0
    if (held > 0) this.#sink.onHeldBytes?.(-held)
  }

  /**
   * Stops parsing after the frame being handled (backpressure): bytes pushed from now on wait, unparsed, until
   * {@link FrameParser.release}.
   */
  hold(): void {
    this.#held = true
  }

  /** Parses what waited since {@link FrameParser.hold} (the sink may hold again meanwhile). */
  release(): void {
    if (!this.#held) return
    this.#held = false
    const rest = this.#rest
    this.#rest = null
    if (rest) this.push(rest)
  }

  /** Parses the next bytes from the socket. */
  push(chunk: Buffer): void {
    if (this.#stopped || chunk.length === 0) return
    let buf = chunk
    let off = 0
    if (this.#head !== null) {
      buf = Buffer.concat([this.#head, chunk])
      this.#head = null
    }
    while (off < buf.length && !this.#stopped) {
      if (this.#held) {
        const rest = buf.subarray(off)
        this.#rest = this.#rest ? Buffer.concat([this.#rest, rest]) : rest
        return
      }
      off = this.#remaining >= 0 ? this.#body(buf, off) : this.#header(buf, off)
    }
  }

  /** Parses the header at `off` (and the payload if it is all there); returns the new offset. */
  #header(buf: Buffer, off: number): number {
    const avail = buf.length - off
    if (avail < 2) {
      this.#head = Buffer.from(buf.subarray(off))
      return buf.length
    }
    const b0 = buf[off] as number
    const b1 = buf[off + 1] as number
    const fin = (b0 & 0x80) !== 0
    const opcode = b0 & 0x0f
    if ((b0 & 0x70) !== 0) return this.#fail(WsCloseCode.ProtocolError, 'reserved bits set')
    if ((b1 & 0x80) === 0) return this.#fail(WsCloseCode.ProtocolError, 'client frame not masked')
    const control = opcode >= 0x8
    if (control) {
      if (opcode !== Opcode.Close && opcode !== Opcode.Ping && opcode !== Opcode.Pong)
        return this.#fail(WsCloseCode.ProtocolError, `unknown opcode ${opcode}`)
      if (!fin) return this.#fail(WsCloseCode.ProtocolError, 'fragmented control frame')
    } else if (opcode > Opcode.Binary) {
      return this.#fail(WsCloseCode.ProtocolError, `unknown opcode ${opcode}`)
    } else if (opcode === Opcode.Continuation) {
      if (!this.#fragmented) return this.#fail(WsCloseCode.ProtocolError, 'continuation without a start')
    } else if (this.#fragmented) {
      return this.#fail(WsCloseCode.ProtocolError, 'new message before the last one ended')
    }
    const len7 = b1 & 0x7f
    if (control) {
      // Decided from the 7-bit length, as soon as it is there: a control frame's length is at most 125 in its
      // shortest encoding, the only one allowed (RFC 6455 §5.2, §5.5); a close payload is empty or holds a code.
      if (len7 > 125) return this.#fail(WsCloseCode.ProtocolError, 'control frame over 125 bytes')
      if (opcode === Opcode.Close && len7 === 1)
        return this.#fail(WsCloseCode.ProtocolError, 'close payload of 1 byte')
    }
    // The length is checked as soon as its bytes are there, before the masking key arrives.
    const lengthEnd = len7 < 126 ? 2 : len7 === 126 ? 4 : 10
    if (avail < lengthEnd) {
      this.#head = Buffer.from(buf.subarray(off))
      return buf.length
    }
    let length: number
    if (len7 < 126) length = len7
    else if (len7 === 126) length = buf.readUInt16BE(off + 2)
    else {
      const high = buf.readUInt32BE(off + 2)
      // Above 2^53 - 1 is not representable (and the top bit must be clear): far over any maximum anyway.
      if (high > 0x1fffff) return this.#fail(WsCloseCode.TooBig, 'frame length out of range')
      length = high * 0x100000000 + buf.readUInt32BE(off + 6)
    }
    if (!control && this.#length + length > this.#maxPayload) {
      return this.#fail(WsCloseCode.TooBig, `message over ${this.#maxPayload} bytes`)
    }
    const hl = lengthEnd + 4
    if (avail < hl) {
      this.#head = Buffer.from(buf.subarray(off))
      return buf.length
    }
    const mask = buf.readUInt32BE(off + hl - 4)
    const start = off + hl
    const whole = buf.length - start >= length
    if (whole && (control || (fin && !this.#fragmented))) {
      // The common case: a whole frame in this chunk, unmasked in place and handed on as a view.
      if (!control && this.#discard) return start + length
      const payload = length === 0 ? EMPTY : buf.subarray(start, start + length)
      unmask(payload, mask)
      if (control) this.#controlFrame(opcode, payload)
      else this.#deliver(payload, opcode === Opcode.Binary)
      return start + length
    }
    if (!control) {
      if (opcode !== Opcode.Continuation) this.#messageOpcode = opcode
      this.#fragmented = !fin
    } else {
      this.#control = Buffer.allocUnsafe(length)
    }
    this.#fin = fin
    this.#opcode = opcode
    this.#mask = mask
    this.#phase = 0
    this.#remaining = length
    // An empty fragment ends here: nothing more of it will arrive to finish it.
    return length === 0 ? this.#body(buf, start) : start
  }

  /** Takes the payload bytes of the current frame available at `off`; returns the new offset. */
  #body(buf: Buffer, off: number): number {
    const n = Math.min(this.#remaining, buf.length - off)
    const control = this.#control
    if (control === null && this.#discard) {
      this.#remaining -= n
      if (this.#remaining > 0) return buf.length
      this.#remaining = -1
      return off + n
    }
    if (n > 0) {
      let target: Buffer
      if (control !== null) {
        target = control.subarray(this.#phase, this.#phase + n)
      } else {
        this.#reserve(n)
        // The growth is charged to the memory budget, which may close this connection at once (CONN-11.2): its
        // message is dropped then, and the rest of the frame is skipped (discardData) or ignored (stop).
        if (this.#message === null) return off
        target = this.#message.subarray(this.#length, this.#length + n)
        this.#length += n
        this.#progress += n
      }
      buf.copy(target, 0, off, off + n)
      unmask(target, this.#mask, this.#phase)
      this.#phase += n
      this.#remaining -= n
    }
    if (this.#remaining > 0) return buf.length
    this.#remaining = -1
    if (control !== null) {
      this.#control = null
      this.#controlFrame(this.#opcode, control)
    } else if (this.#fin) {
      this.#completeMessage()
    }
    return off + n
  }

  /** Makes room for `n` more bytes of the message being assembled, growing its buffer geometrically. */
  #reserve(n: number): void {
    const needed = this.#length + n
    const capacity = this.#message?.length ?? 0
    if (needed <= capacity) return
    // A final frame's end is known: never past it. Otherwise (more fragments to come) never past the maximum.
    const bound = this.#fin ? this.#length + this.#remaining : this.#maxPayload
    const next = Math.min(bound, Math.max(needed, capacity * 2, MIN_CAPACITY))
    const grown = Buffer.allocUnsafe(next)
    if (this.#message) this.#message.copy(grown, 0, 0, this.#length)
    this.#message = grown
    this.#sink.onHeldBytes?.(next - capacity)
  }

  #completeMessage(): void {
    const buffer = this.#message
    const length = this.#length
    const binary = this.#messageOpcode === Opcode.Binary
    this.#dropMessage()
    let data: Buffer = EMPTY
    if (buffer !== null) {
      // Exact when the end was known when the buffer last grew; a buffer more than twice too large is trimmed.
      data = buffer.length === length ? buffer : buffer.subarray(0, length)
      if (length * 2 < buffer.length) data = Buffer.from(data)
    }
    this.#deliver(data, binary)
  }

  #dropMessage(): void {
    const held = this.#message?.length ?? 0
    this.#message = null
    this.#length = 0
    this.#fragmented = false
    if (held > 0) this.#sink.onHeldBytes?.(-held)
  }

  #controlFrame(opcode: number, payload: Buffer): void {
    if (opcode === Opcode.Ping) return this.#sink.onPing(payload)
    if (opcode === Opcode.Pong) return this.#sink.onPong(payload)
    return this.#close(payload)
  }

  #deliver(data: Buffer, binary: boolean): void {
    if (!binary && !isUtf8(data)) {
      this.#fail(WsCloseCode.InvalidPayload, 'text message is not UTF-8')
      return
    }
    this.#sink.onMessage(data, binary)
  }

  #close(payload: Buffer): void {
    if (payload.length === 0) return this.#sink.onCloseFrame(WsCloseCode.NoStatus, '')
    const code = payload.readUInt16BE(0)
    if (!isValidCloseCode(code))
      return void this.#fail(WsCloseCode.ProtocolError, `invalid close code ${code}`)
    const reason = payload.subarray(2)
    if (!isUtf8(reason)) return void this.#fail(WsCloseCode.InvalidPayload, 'close reason is not UTF-8')
    this.#sink.onCloseFrame(code, reason.toString('utf8'))
  }

  #fail(code: number, reason: string): number {
    this.stop()
    this.#sink.onProtocolError(code, reason)
    return Number.MAX_SAFE_INTEGER
  }
}

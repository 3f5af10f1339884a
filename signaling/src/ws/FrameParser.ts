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
}

const EMPTY = Buffer.alloc(0)

/**
 * An incremental parser of client-to-server WebSocket frames (RFC 6455 §5): every header field is bounds-checked,
 * client frames must be masked, reserved bits must be clear (no extension is ever negotiated), control frames must
 * be final and at most 125 bytes, fragments must continue a message in progress, and the size of a message (all its
 * fragments) is checked against `maxPayload` from each header, before its payload is buffered. Bytes may arrive
 * split at any boundary. A frame contained in one chunk is unmasked in place and handed on as a view (no copy).
 */
export class FrameParser {
  readonly #sink: FrameSink
  readonly #maxPayload: number
  /** Bytes of an incomplete header (less than 14), kept until the next chunk. */
  #head: Buffer | null = null
  /** A payload that spans chunks, being filled. */
  #payload: Buffer | null = null
  #filled = 0
  /** Header fields of the frame whose payload is being filled. */
  #fin = false
  #opcode = 0
  #mask = 0
  /** Data frames of the fragmented message in progress, and their total size. */
  #fragments: Buffer[] | null = null
  #fragmentBytes = 0
  #fragmentOpcode = 0
  #stopped = false

  constructor(sink: FrameSink, maxPayload: number) {
    this.#sink = sink
    this.#maxPayload = maxPayload
  }

  /** Whether the parser stopped (after a protocol error or {@link FrameParser.stop}). */
  get stopped(): boolean {
    return this.#stopped
  }

  /** Ignores everything from now on (after a close frame, or when the connection is gone). */
  stop(): void {
    this.#stopped = true
    this.#head = null
    this.#payload = null
    this.#fragments = null
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
      const payload = this.#payload
      if (payload !== null) {
        const n = Math.min(payload.length - this.#filled, buf.length - off)
        buf.copy(payload, this.#filled, off, off + n)
        this.#filled += n
        off += n
        if (this.#filled < payload.length) return
        this.#payload = null
        unmask(payload, this.#mask)
        this.#frame(this.#fin, this.#opcode, payload)
        continue
      }
      off = this.#header(buf, off)
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
      if (this.#fragments === null)
        return this.#fail(WsCloseCode.ProtocolError, 'continuation without a start')
    } else if (this.#fragments !== null) {
      return this.#fail(WsCloseCode.ProtocolError, 'new message before the last one ended')
    }
    const len7 = b1 & 0x7f
    const hl = len7 < 126 ? 6 : len7 === 126 ? 8 : 14
    if (avail < hl) {
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
    if (control && length > 125) return this.#fail(WsCloseCode.ProtocolError, 'control frame over 125 bytes')
    if (!control && this.#fragmentBytes + length > this.#maxPayload) {
      return this.#fail(WsCloseCode.TooBig, `message over ${this.#maxPayload} bytes`)
    }
    const mask = buf.readUInt32BE(off + hl - 4)
    const start = off + hl
    if (buf.length - start >= length) {
      const payload = length === 0 ? EMPTY : buf.subarray(start, start + length)
      unmask(payload, mask)
      this.#frame(fin, opcode, payload)
      return start + length
    }
    this.#fin = fin
    this.#opcode = opcode
    this.#mask = mask
    this.#payload = Buffer.allocUnsafe(length)
    this.#filled = 0
    return start
  }

  #frame(fin: boolean, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case Opcode.Ping:
        return this.#sink.onPing(payload)
      case Opcode.Pong:
        return this.#sink.onPong(payload)
      case Opcode.Close:
        return this.#close(payload)
      case Opcode.Continuation: {
        const fragments = this.#fragments as Buffer[]
        fragments.push(payload)
        this.#fragmentBytes += payload.length
        if (!fin) return
        const whole = Buffer.concat(fragments, this.#fragmentBytes)
        const binary = this.#fragmentOpcode === Opcode.Binary
        this.#fragments = null
        this.#fragmentBytes = 0
        return this.#message(whole, binary)
      }
      default:
        if (!fin) {
          this.#fragments = [payload]
          this.#fragmentBytes = payload.length
          this.#fragmentOpcode = opcode
          return
        }
        return this.#message(payload, opcode === Opcode.Binary)
    }
  }

  #message(data: Buffer, binary: boolean): void {
    if (!binary && !isUtf8(data)) {
      this.#fail(WsCloseCode.InvalidPayload, 'text message is not UTF-8')
      return
    }
    this.#sink.onMessage(data, binary)
  }

  #close(payload: Buffer): void {
    if (payload.length === 0) return this.#sink.onCloseFrame(WsCloseCode.NoStatus, '')
    if (payload.length === 1) return void this.#fail(WsCloseCode.ProtocolError, 'close payload of 1 byte')
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

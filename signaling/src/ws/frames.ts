import { endianness } from 'node:os'
import { EncodingKey, type SharedMessage } from '../relay/SharedMessage.js'

/** WebSocket opcodes (RFC 6455 §5.2). */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const

/** Standard close codes the server layer itself uses (RFC 6455 §7.4.1). */
export const WsCloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  NoStatus: 1005,
  Abnormal: 1006,
  InvalidPayload: 1007,
  TooBig: 1009,
} as const

/**
 * Whether `code` may appear in a close frame on the wire (RFC 6455 §7.4): 1000-1003, 1007-1014 and the registered
 * and private ranges 3000-4999. 1004, 1005, 1006 and 1015 are reserved and never sent.
 */
export const isValidCloseCode = (code: number): boolean =>
  (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)

const headerLength = (payloadLength: number): number =>
  payloadLength < 126 ? 2 : payloadLength < 0x10000 ? 4 : 10

/** Writes an unmasked frame header (FIN set) into `out` at 0; returns its length. */
const writeHeader = (out: Buffer, opcode: number, payloadLength: number): number => {
  out[0] = 0x80 | opcode
  if (payloadLength < 126) {
    out[1] = payloadLength
    return 2
  }
  if (payloadLength < 0x10000) {
    out[1] = 126
    out.writeUInt16BE(payloadLength, 2)
    return 4
  }
  out[1] = 127
  out.writeUInt32BE(Math.floor(payloadLength / 0x100000000), 2)
  out.writeUInt32BE(payloadLength >>> 0, 6)
  return 10
}

/**
 * One complete, unmasked server frame (FIN set) carrying `payload`, as a single Buffer (header and payload copied
 * together, so a socket sends it with one write).
 */
export const encodeFrame = (opcode: number, payload: Uint8Array): Buffer => {
  const hl = headerLength(payload.byteLength)
  const out = Buffer.allocUnsafe(hl + payload.byteLength)
  writeHeader(out, opcode, payload.byteLength)
  out.set(payload, hl)
  return out
}

/** Just the header of an unmasked frame for a payload of `payloadLength` bytes (large payloads are not copied). */
export const encodeFrameHeader = (opcode: number, payloadLength: number): Buffer => {
  const out = Buffer.allocUnsafe(headerLength(payloadLength))
  writeHeader(out, opcode, payloadLength)
  return out
}

/** The payload of a close frame: the code and up to 123 bytes of UTF-8 reason (cut on a character boundary). */
export const encodeClosePayload = (code: number, reason: string): Buffer => {
  let text = Buffer.from(reason, 'utf8')
  if (text.byteLength > 123) {
    let end = 123
    // Do not cut a multi-byte character: back up to the first byte of the character at `end`.
    while (end > 0 && ((text[end] ?? 0) & 0xc0) === 0x80) end--
    text = text.subarray(0, end)
  }
  const out = Buffer.allocUnsafe(2 + text.byteLength)
  out.writeUInt16BE(code, 0)
  out.set(text, 2)
  return out
}

/** A ping frame without payload (the server's heartbeat); shared by every connection. */
export const PING_FRAME: Buffer = Buffer.from([0x80 | Opcode.Ping, 0])

const littleEndian = endianness() === 'LE'

/** From this length on, {@link unmask} XORs through a 32-bit view; shorter payloads (most messages) need no view. */
const WORD_UNMASK_MIN = 256

/**
 * XORs `buf` in place with the 4-byte masking key `key` (big-endian: the first mask byte is the top byte), the
 * first byte of `buf` being byte `phase` of the masked payload. Aligned stretches of long payloads are done 32 bits
 * at a time; shorter ones four bytes per step with the key's bytes worked out once (no typed-array view allocated).
 */
export const unmask = (buf: Uint8Array, key: number, phase = 0): void => {
  const len = buf.length
  let i = 0
  if (len >= WORD_UNMASK_MIN) {
    // Bytes until the view is 4-byte aligned, then whole words with the key rotated to that position.
    while ((buf.byteOffset + i) % 4 !== 0) {
      buf[i] = (buf[i] ?? 0) ^ ((key >>> (24 - 8 * ((phase + i) & 3))) & 0xff)
      i++
    }
    const r = (phase + i) & 3
    const rotated = r === 0 ? key : ((key << (8 * r)) | (key >>> (32 - 8 * r))) >>> 0
    const word = littleEndian
      ? (rotated >>> 24) | ((rotated >>> 8) & 0xff00) | ((rotated << 8) & 0xff0000) | (rotated << 24) | 0
      : rotated | 0
    const words = new Int32Array(buf.buffer, buf.byteOffset + i, (len - i) >>> 2)
    for (let w = 0; w < words.length; w++) words[w] = (words[w] ?? 0) ^ word
    i += words.length << 2
  } else if (len >= 4) {
    // The key rotated so that its top byte masks buf[0]; then four bytes per step.
    const r = phase & 3
    const rotated = r === 0 ? key : ((key << (8 * r)) | (key >>> (32 - 8 * r))) >>> 0
    const m0 = rotated >>> 24
    const m1 = (rotated >>> 16) & 0xff
    const m2 = (rotated >>> 8) & 0xff
    const m3 = rotated & 0xff
    const end = len & ~3
    for (; i < end; i += 4) {
      buf[i] = (buf[i] ?? 0) ^ m0
      buf[i + 1] = (buf[i + 1] ?? 0) ^ m1
      buf[i + 2] = (buf[i + 2] ?? 0) ^ m2
      buf[i + 3] = (buf[i + 3] ?? 0) ^ m3
    }
  }
  for (; i < len; i++) buf[i] = (buf[i] ?? 0) ^ ((key >>> (24 - 8 * ((phase + i) & 3))) & 0xff)
}

/** The key under which a {@link SharedMessage} caches its RFC 6455 frame. */
const BINARY_FRAME = new EncodingKey<Buffer>('rfc6455-binary-frame')

/** One binary frame (FIN set, unmasked) holding `message`'s parts: allocated once, each part copied in once. */
const encodeSharedFrame = (message: SharedMessage): Buffer => {
  const length = message.byteLength
  const hl = headerLength(length)
  const frame = Buffer.allocUnsafe(hl + length)
  writeHeader(frame, Opcode.Binary, length)
  let offset = hl
  for (const part of message.parts) {
    frame.set(part, offset)
    offset += part.byteLength
  }
  return frame
}

/**
 * The binary frame of `message`, built on first use and cached on the message: a message sent to N sockets is
 * framed once and the same bytes are written to every socket.
 */
export const frameOf = (message: SharedMessage): Buffer => message.encoded(BINARY_FRAME, encodeSharedFrame)

/** A text message framed once, to be sent as is to many sockets (signaling fan-out). */
export class TextFrame {
  /** The whole frame: header and UTF-8 payload. */
  readonly frame: Buffer
  /** Bytes of the UTF-8 payload. */
  readonly byteLength: number

  constructor(text: string) {
    const payload = Buffer.from(text, 'utf8')
    this.frame = encodeFrame(Opcode.Text, payload)
    this.byteLength = payload.byteLength
  }
}

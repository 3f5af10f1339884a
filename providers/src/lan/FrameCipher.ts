import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto'
import type { LanHello } from './lanHandshake.js'

const TAG_BYTES = 16

const directionKey = (key: Buffer, from: LanHello, to: LanHello, salt: Buffer): Buffer =>
  Buffer.from(hkdfSync('sha256', key, salt, `weft-lan/2 frames\0${from.peer}\0${to.peer}`, 32))

const counterNonce = (n: bigint): Buffer => {
  const iv = Buffer.alloc(12)
  iv.writeBigUInt64BE(n, 4)
  return iv
}

/**
 * Seals and opens the data frames of one authenticated connection (AES-256-GCM). Each direction has its own key,
 * derived (HKDF-SHA256) from the room key and both hellos' nonces, so keys are fresh per connection. The GCM nonce
 * is a frame counter: frames arrive in order over one WebSocket, so a replayed, dropped or reordered frame fails to
 * open.
 */
export class FrameCipher {
  readonly #sendKey: Buffer
  readonly #receiveKey: Buffer
  #sent = 0n
  #received = 0n

  /** `self` and `other` are this side's and the other side's hellos; `dialer` says which one dialed. */
  constructor(key: Buffer, self: LanHello, other: LanHello, selfIsDialer: boolean) {
    const [d, a] = selfIsDialer ? [self, other] : [other, self]
    const salt = Buffer.concat([Buffer.from(d.nonce, 'base64'), Buffer.from(a.nonce, 'base64')])
    this.#sendKey = directionKey(key, self, other, salt)
    this.#receiveKey = directionKey(key, other, self, salt)
  }

  /** Encrypts one frame: ciphertext followed by the 16-byte tag. */
  seal(data: Uint8Array): Uint8Array {
    const cipher = createCipheriv('aes-256-gcm', this.#sendKey, counterNonce(this.#sent++))
    const body = Buffer.concat([cipher.update(data), cipher.final(), cipher.getAuthTag()])
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
  }

  /** Decrypts the next frame; `null` if it does not authenticate (tampered, replayed, or out of order). */
  open(frame: Uint8Array): Uint8Array | null {
    if (frame.length < TAG_BYTES) return null
    const decipher = createDecipheriv('aes-256-gcm', this.#receiveKey, counterNonce(this.#received))
    decipher.setAuthTag(frame.subarray(frame.length - TAG_BYTES))
    try {
      const body = Buffer.concat([
        decipher.update(frame.subarray(0, frame.length - TAG_BYTES)),
        decipher.final(),
      ])
      this.#received++
      return new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
    } catch {
      return null
    }
  }
}

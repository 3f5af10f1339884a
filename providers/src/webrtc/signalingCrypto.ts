/**
 * Encryption of signaling messages in a password-protected room, in the format y-webrtc 10.x uses, so that Weft
 * peers and stock y-webrtc peers that share a password understand each other:
 *
 * - key: PBKDF2 (SHA-256, 100,000 iterations) of the UTF-8 password, salted with the UTF-8 room name, giving an
 *   AES-GCM 256-bit key;
 * - plaintext: the message encoded with lib0's `writeAny`;
 * - envelope: lib0 varString `"AES-GCM"`, varUint8Array 12-byte IV, varUint8Array ciphertext; base64 in the
 *   `data` field of a `publish` message.
 */
import { fromBase64, toBase64 } from 'lib0/buffer'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

const ALGORITHM = 'AES-GCM'
const KDF_ITERATIONS = 100_000
const IV_BYTES = 12
const utf8 = new TextEncoder()

/** A value lib0's `writeAny` can encode (the shape of a signaling message). */
export type AnyValue =
  | undefined
  | null
  | number
  | boolean
  | string
  | Uint8Array
  | readonly AnyValue[]
  | { readonly [key: string]: AnyValue }

/** Derives the AES-GCM key of a room from its password (salt: the room name). */
export const deriveRoomKey = async (password: string, room: string): Promise<CryptoKey> => {
  const material = await crypto.subtle.importKey('raw', utf8.encode(password), 'PBKDF2', false, ['deriveKey'])
  return crypto.subtle.deriveKey(
    { name: 'PBKDF2', salt: utf8.encode(room), iterations: KDF_ITERATIONS, hash: 'SHA-256' },
    material,
    { name: ALGORITHM, length: 256 },
    false,
    ['encrypt', 'decrypt'],
  )
}

/** Encrypts one signaling message; returns the base64 envelope. */
export const encryptSignal = async (message: AnyValue, key: CryptoKey): Promise<string> => {
  const plain = encoding.encode((e) =>
    encoding.writeAny(e, message as Parameters<typeof encoding.writeAny>[1]),
  )
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES))
  const cipher = new Uint8Array(await crypto.subtle.encrypt({ name: ALGORITHM, iv }, key, plain))
  const envelope = encoding.encode((e) => {
    encoding.writeVarString(e, ALGORITHM)
    encoding.writeVarUint8Array(e, iv)
    encoding.writeVarUint8Array(e, cipher)
  })
  return toBase64(envelope)
}

/**
 * Decrypts a base64 envelope. Resolves with the message, or with `undefined` when the envelope is malformed or
 * was encrypted with another key (another password, or a peer of another room): such messages are not for us.
 */
export const decryptSignal = async (data: string, key: CryptoKey): Promise<unknown> => {
  try {
    const decoder = decoding.createDecoder(fromBase64(data))
    if (decoding.readVarString(decoder) !== ALGORITHM) return undefined
    const iv = decoding.readVarUint8Array(decoder)
    const cipher = decoding.readVarUint8Array(decoder)
    const plain = new Uint8Array(await crypto.subtle.decrypt({ name: ALGORITHM, iv }, key, cipher))
    return decoding.readAny(decoding.createDecoder(plain)) as unknown
  } catch {
    return undefined
  }
}

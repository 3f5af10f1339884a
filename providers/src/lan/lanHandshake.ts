import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto'

/** Version of the LAN handshake, advertised in mDNS (`v`) and sent in the hello frame. */
export const LAN_PROTOCOL_VERSION = 1

/** Peer ids a {@link LanTransport} accepts: they become part of an mDNS instance name (one DNS label). */
export const LAN_PEER_ID = /^[A-Za-z0-9_-]{1,48}$/

/** Handshake frames are small JSON text frames; anything longer is malformed. */
const MAX_HANDSHAKE_FRAME = 1024
const NONCE_BYTES = 16
const PBKDF2_ITERATIONS = 100_000

/** The first frame each side sends, as a text frame. */
export interface LanHello {
  readonly peer: string
  /** Room tag ({@link roomTag}), so a peer never syncs with a peer of another room. */
  readonly room: string
  /** Random, fresh per connection (base64, 16 bytes): the other side's proof must cover it. */
  readonly nonce: string
  /** Whether this side requires a shared secret. Both sides must agree. */
  readonly auth: boolean
  readonly version: number
}

/**
 * The room as it appears on the network: a hash, so the room name (often a document id) is not broadcast in clear
 * over mDNS.
 */
export const roomTag = (room: string): string =>
  createHash('sha256').update(`weft-lan/1\0${room}`).digest('hex').slice(0, 32)

/** A fresh nonce for one connection. */
export const newNonce = (): string => randomBytes(NONCE_BYTES).toString('base64')

/** Encodes a hello frame. */
export const encodeHello = (hello: LanHello): string =>
  JSON.stringify({
    weft: 'lan-hello',
    v: hello.version,
    peer: hello.peer,
    room: hello.room,
    nonce: hello.nonce,
    auth: hello.auth,
  })

/** Encodes a proof frame (sent after the hello exchange when a secret is configured). */
export const encodeProof = (proof: Buffer): string =>
  JSON.stringify({ weft: 'lan-proof', proof: proof.toString('base64') })

const parseObject = (text: string): Record<string, unknown> | null => {
  if (text.length > MAX_HANDSHAKE_FRAME) return null
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return null
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null
}

const isNonce = (v: unknown): v is string =>
  typeof v === 'string' && /^[A-Za-z0-9+/]{22}==$/.test(v) && Buffer.from(v, 'base64').length === NONCE_BYTES

/**
 * Decodes a hello frame; `null` when it is not a well-formed hello. A hello of another protocol version parses (so
 * the caller can say why it refuses it).
 */
export const parseHello = (text: string): LanHello | null => {
  const o = parseObject(text)
  if (!o || o['weft'] !== 'lan-hello') return null
  const { v, peer, room, nonce, auth } = o
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) return null
  if (typeof peer !== 'string' || !LAN_PEER_ID.test(peer)) return null
  if (typeof room !== 'string' || !/^[0-9a-f]{32}$/.test(room)) return null
  if (!isNonce(nonce) || typeof auth !== 'boolean') return null
  return { version: v, peer, room, nonce, auth }
}

/** Decodes a proof frame; `null` when malformed. */
export const parseProof = (text: string): Buffer | null => {
  const o = parseObject(text)
  if (!o || o['weft'] !== 'lan-proof' || typeof o['proof'] !== 'string') return null
  const proof = Buffer.from(o['proof'], 'base64')
  return proof.length === 32 ? proof : null
}

/**
 * The key derived from a shared secret for one room (PBKDF2-SHA256, 100,000 iterations, salted with the room tag),
 * so that a proof captured on the network is expensive to brute-force and useless in another room.
 */
export const deriveLanKey = (secret: string, tag: string): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    pbkdf2(secret, `weft-lan/1 ${tag}`, PBKDF2_ITERATIONS, 32, 'sha256', (err, key) =>
      err ? reject(err) : resolve(key),
    )
  })

/** Both sides' hellos of one connection: what a proof and the traffic keys are bound to. */
export interface HandshakeTranscript {
  readonly dialer: LanHello
  readonly acceptor: LanHello
}

/**
 * The proof `from` sends to `to`: an HMAC of both peer ids and both nonces under the room key. It covers the
 * receiver's fresh nonce (no replay) and names the sender first (a proof reflected back to its sender fails).
 */
export const proofFor = (key: Buffer, from: LanHello, to: LanHello): Buffer =>
  createHmac('sha256', key)
    .update(`weft-lan/1 proof\0${from.peer}\0${to.peer}\0${from.nonce}\0${to.nonce}`)
    .digest()

/** Constant-time check of a proof received from `from`. */
export const verifyProof = (key: Buffer, from: LanHello, to: LanHello, proof: Buffer): boolean =>
  timingSafeEqual(proofFor(key, from, to), proof)

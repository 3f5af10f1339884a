import { createHash, createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto'

/**
 * Version of the LAN handshake, advertised in mDNS (`v`) and sent in the hello frame. Version 2: salted room tags,
 * the dialer proves first, scrypt room keys. Peers of another version ignore each other.
 */
export const LAN_PROTOCOL_VERSION = 2

/**
 * Shortest shared secret a {@link LanTransport} accepts, in characters. A secret can be tested offline by a peer
 * that gets dialed (docs/guides/lan.md, Security): it must be long. {@link createLanSecret} makes a good one.
 */
export const LAN_MIN_SECRET_LENGTH = 20
/** Fewest distinct characters in a secret (refuses `aaaaaaaaaaaaaaaaaaaa` and the like). */
const MIN_DISTINCT_CHARACTERS = 8

/** Peer ids a {@link LanTransport} accepts: they become part of an mDNS instance name (one DNS label). */
export const LAN_PEER_ID = /^[A-Za-z0-9_-]{1,48}$/

/** Handshake frames are small JSON text frames; anything longer is malformed. */
const MAX_HANDSHAKE_FRAME = 1024
const NONCE_BYTES = 16
/** scrypt cost of the room key: N = 2^15, r = 8 (32 MiB, about 0.1 s on an idle core, once per transport), p = 1. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const

/** The first frame each side sends, as a text frame. */
export interface LanHello {
  readonly peer: string
  /** Room tag ({@link roomTag} under `salt`), so a peer never syncs with a peer of another room. */
  readonly room: string
  /** The salt of the sender's room tag (base64, 16 bytes), fresh each time a transport starts. */
  readonly salt: string
  /** Random, fresh per connection (base64, 16 bytes): the other side's proof must cover it. */
  readonly nonce: string
  /** Whether this side requires a shared secret. Both sides must agree. */
  readonly auth: boolean
  readonly version: number
}

/** A hash of the room name that never goes on the network: the key of its salted tags, the salt of its key. */
const roomId = (room: string): Buffer => createHash('sha256').update(`weft-lan/2 room\0${room}`).digest()

/**
 * The room as it appears on the network: HMAC-SHA256(hash of the room, `salt`), first 32 hex digits. The room
 * name (often a document id) is not broadcast, and with a fresh salt per advertisement the tags of one room differ
 * between peers and between runs: an observer cannot tell two adverts of one room apart from two rooms, nor look a
 * tag up in a precomputed table. Someone who guesses the room name can still test the guess against an advert.
 */
export const roomTag = (room: string, salt: string): string =>
  createHmac('sha256', roomId(room)).update(Buffer.from(salt, 'base64')).digest('hex').slice(0, 32)

/** Whether a tag was made for `room` (returned function: the room's hash computed once). */
export const roomMatcher = (room: string): ((salt: string, tag: string) => boolean) => {
  const id = roomId(room)
  return (salt, tag) =>
    createHmac('sha256', id).update(Buffer.from(salt, 'base64')).digest('hex').slice(0, 32) === tag
}

/** A fresh nonce for one connection. */
export const newNonce = (): string => randomBytes(NONCE_BYTES).toString('base64')

/** A fresh salt for the room tag of one run of a transport. */
export const newSalt = (): string => randomBytes(NONCE_BYTES).toString('base64')

/** A random shared secret for {@link LanTransportOptions.secret}: 32 random bytes, base64url (43 characters). */
export const createLanSecret = (): string => randomBytes(32).toString('base64url')

/**
 * Why `secret` is too weak for a LAN room, or null when it is acceptable: at least {@link LAN_MIN_SECRET_LENGTH}
 * characters, at least 8 different ones. A length rule cannot tell a random secret from a phrase: prefer
 * {@link createLanSecret}.
 */
export const weakSecretReason = (secret: string): string | null => {
  const chars = [...secret]
  if (chars.length < LAN_MIN_SECRET_LENGTH)
    return `a secret must be at least ${LAN_MIN_SECRET_LENGTH} characters (it can be guessed offline: use createLanSecret())`
  if (new Set(chars).size < MIN_DISTINCT_CHARACTERS)
    return `a secret must have at least ${MIN_DISTINCT_CHARACTERS} different characters`
  return null
}

/** Encodes a hello frame. */
export const encodeHello = (hello: LanHello): string =>
  JSON.stringify({
    weft: 'lan-hello',
    v: hello.version,
    peer: hello.peer,
    room: hello.room,
    salt: hello.salt,
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

/** A nonce or a salt: 16 bytes, base64. */
const isNonce = (v: unknown): v is string =>
  typeof v === 'string' && /^[A-Za-z0-9+/]{22}==$/.test(v) && Buffer.from(v, 'base64').length === NONCE_BYTES

/**
 * The protocol version a hello frame claims (`v`), or null when the frame is not a hello: lets the receiver of a
 * hello that {@link parseHello} refuses say whether it came from another version.
 */
export const helloVersion = (text: string): number | null => {
  const o = parseObject(text)
  if (!o || o['weft'] !== 'lan-hello') return null
  const v = o['v']
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 ? v : null
}

/** Decodes a hello frame of this protocol version; `null` when it is not one (see {@link helloVersion}). */
export const parseHello = (text: string): LanHello | null => {
  const o = parseObject(text)
  if (!o || o['weft'] !== 'lan-hello') return null
  const { v, peer, room, salt, nonce, auth } = o
  if (v !== LAN_PROTOCOL_VERSION) return null
  if (typeof peer !== 'string' || !LAN_PEER_ID.test(peer)) return null
  if (typeof room !== 'string' || !/^[0-9a-f]{32}$/.test(room)) return null
  if (!isNonce(salt) || !isNonce(nonce) || typeof auth !== 'boolean') return null
  return { version: v, peer, room, salt, nonce, auth }
}

/** Decodes a proof frame; `null` when malformed. */
export const parseProof = (text: string): Buffer | null => {
  const o = parseObject(text)
  if (!o || o['weft'] !== 'lan-proof' || typeof o['proof'] !== 'string') return null
  const proof = Buffer.from(o['proof'], 'base64')
  return proof.length === 32 ? proof : null
}

/**
 * The key derived from a shared secret for one room (scrypt, N = 2^15, r = 8, p = 1: memory-hard, salted with a
 * hash of the room), so that each guess at a secret costs an attacker 32 MiB and about 0.1 s of a core, and a proof
 * is useless in another room.
 */
export const deriveLanKey = (secret: string, room: string): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const salt = Buffer.concat([Buffer.from('weft-lan/2 key\0'), roomId(room)])
    scrypt(secret, salt, 32, SCRYPT, (err, key) => (err ? reject(err) : resolve(key)))
  })

/** Both sides' hellos of one connection: what a proof and the traffic keys are bound to. */
export interface HandshakeTranscript {
  readonly dialer: LanHello
  readonly acceptor: LanHello
}

/** Which side of a connection a proof comes from: the dialer proves first, the acceptor only after checking it. */
export type LanRole = 'dialer' | 'acceptor'

/**
 * The proof that `role` holds the room key: an HMAC of the role and of both hellos (peer ids, salts, nonces) under
 * the room key. It covers the receiver's fresh nonce (no replay) and names its role (a proof reflected back to its
 * sender fails).
 */
export const proofFor = (key: Buffer, role: LanRole, t: HandshakeTranscript): Buffer =>
  createHmac('sha256', key)
    .update(
      [
        `weft-lan/2 proof ${role}`,
        t.dialer.peer,
        t.acceptor.peer,
        t.dialer.salt,
        t.acceptor.salt,
        t.dialer.nonce,
        t.acceptor.nonce,
      ].join('\0'),
    )
    .digest()

/** Constant-time check of a proof received from the side playing `role`. */
export const verifyProof = (key: Buffer, role: LanRole, t: HandshakeTranscript, proof: Buffer): boolean =>
  timingSafeEqual(proofFor(key, role, t), proof)

/**
 * A demo arrangement, not authentication: the page mints its own HS256 token for its user with the demo's dev secret
 * (devAuth.json, which `npm start` gives `weft serve` as `--auth-secret`). Rules need a subject per user that the relay
 * trusts (docs/guides/rules.md); a real app gets its tokens from its own login server, which keeps the secret. Here the
 * secret ships in the page, so anyone can mint a token for any subject: the relay trusts the token, not the person.
 * The HMAC is computed with lib0's SHA-256 rather than WebCrypto, which pages served over plain HTTP to another
 * machine on the LAN do not have.
 */
import { digest as sha256 } from 'lib0/hash/sha256'
import devAuth from './devAuth.json' with { type: 'json' }
import { loadUser } from './identity.js'

/** The demo's public development secret (also given to `weft serve --auth-secret` by demo/scripts/start.mjs). */
export const DEMO_AUTH_SECRET: string = devAuth.secret

/** How long a minted token lasts: a day (the relay's transport asks for a fresh one at every connection). */
const LIFETIME_SECONDS = 24 * 60 * 60
const BLOCK = 64

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

/** HMAC-SHA-256 (RFC 2104). */
export const hmacSha256 = (key: Uint8Array, message: Uint8Array): Uint8Array => {
  const k = new Uint8Array(BLOCK)
  k.set(key.length > BLOCK ? sha256(key) : key)
  const pad = (byte: number) => k.map((b) => b ^ byte)
  return sha256(concat(pad(0x5c), sha256(concat(pad(0x36), message))))
}

const base64url = (bytes: Uint8Array): string => {
  let binary = ''
  for (const b of bytes) binary += String.fromCharCode(b)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/**
 * A JWT for `subject` granting write access to every room, signed with `secret` (default: the demo's dev secret),
 * valid for a day from `now` (epoch milliseconds).
 */
export const mintDevToken = (subject: string, secret = DEMO_AUTH_SECRET, now = Date.now()): string => {
  const iat = Math.floor(now / 1000)
  const header = base64url(utf8(JSON.stringify({ alg: 'HS256', typ: 'JWT' })))
  const payload = base64url(
    utf8(JSON.stringify({ sub: subject, rooms: { '*': 'write' }, iat, exp: iat + LIFETIME_SECONDS })),
  )
  const signature = base64url(hmacSha256(utf8(secret), utf8(`${header}.${payload}`)))
  return `${header}.${payload}.${signature}`
}

/** A fresh dev token for this browser's saved user (identity.ts): the relay transports' `token` function. */
export const demoToken = (): string => mintDevToken(loadUser().id)

/** `url` with this browser's dev token as its `token` parameter (signaling URLs, which take no token function). */
export const withDemoToken = (url: string): string => {
  const u = new URL(url)
  u.searchParams.set('token', demoToken())
  return u.toString()
}

import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { SignJWT, exportSPKI, generateKeyPair } from 'jose'
import { Authenticator } from '../../src/auth/Authenticator.js'
import { RoomGrant } from '../../src/auth/RoomGrant.js'
import { extractToken, selectProtocol } from '../../src/auth/extractToken.js'

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long'
const now = () => Math.floor(Date.now() / 1000)

const hs256 = (claims: Record<string, unknown>, secret = SECRET) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret))

describe('Authenticator (AUTH rules of docs/spec/signaling.md)', () => {
  it('AUTH-1: without a secret every connection may write every room', async () => {
    const auth = new Authenticator()
    expect(auth.required).toBe(false)
    const r = await auth.authenticate(undefined)
    expect(r.ok && r.grant.access('anything')).toBe('write')
  })

  it('AUTH-2: with a secret, a valid HS256 token yields its rooms', async () => {
    const auth = new Authenticator({ secret: SECRET })
    const r = await auth.authenticate(
      await hs256({ rooms: { a: 'read', 'team-*': 'write' }, exp: now() + 60, sub: 'u1' }),
    )
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.grant.access('a')).toBe('read')
    expect(r.grant.access('team-x')).toBe('write')
    expect(r.grant.access('b')).toBe('none')
    expect(r.grant.subject).toBe('u1')
    expect(r.grant.expiresAt).toBeGreaterThan(Date.now())
  })

  it.each([
    ['no token', async () => undefined],
    [
      'wrong secret',
      () => hs256({ rooms: { a: 'write' }, exp: now() + 60 }, 'another-secret-of-at-least-32-bytes!!'),
    ],
    ['no exp', () => hs256({ rooms: { a: 'write' } })],
    ['no rooms claim', () => hs256({ exp: now() + 60 })],
    ['bad access value', () => hs256({ rooms: { a: 'admin' }, exp: now() + 60 })],
    ['garbage', async () => 'not.a.jwt'],
  ])('AUTH-3: refuses %s', async (_name, make) => {
    const auth = new Authenticator({ secret: SECRET })
    const r = await auth.authenticate(await make())
    expect(r.ok).toBe(false)
  })

  it('AUTH-3: an expired token is refused as expired', async () => {
    const auth = new Authenticator({ secret: SECRET })
    const r = await auth.authenticate(await hs256({ rooms: { a: 'write' }, exp: now() - 60 }))
    expect(r).toEqual({ ok: false, reason: 'token expired' })
  })

  it.each(['RS256', 'ES256'] as const)('AUTH-2: with a public key, %s tokens verify', async (alg) => {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true })
    const auth = new Authenticator({ publicKey: await exportSPKI(publicKey) })
    const token = await new SignJWT({ rooms: { r: 'write' } })
      .setProtectedHeader({ alg })
      .setExpirationTime('1m')
      .sign(privateKey)
    const r = await auth.authenticate(token)
    expect(r.ok && r.grant.access('r')).toBe('write')
    // An HS256 token signed with the PEM text as secret (algorithm confusion) is refused.
    const pem = await exportSPKI(publicKey)
    const forged = await hs256({ rooms: { r: 'write' }, exp: now() + 60 }, pem)
    expect((await auth.authenticate(forged)).ok).toBe(false)
  })

  it('rejects a short secret and two keys at once', () => {
    expect(() => new Authenticator({ secret: 'short' })).toThrow(/32 bytes/)
    expect(() => new Authenticator({ secret: SECRET, publicKey: 'x' })).toThrow(/not both/)
  })
})

describe('RoomGrant', () => {
  it('AUTH-4: the most specific key wins: exact name, then the longest prefix', () => {
    const g = new RoomGrant({
      '*': 'read',
      'team-*': 'write',
      'team-secret': 'read',
      'team-secret-*': 'write',
    })
    expect(g.access('lobby')).toBe('read')
    expect(g.access('team-a')).toBe('write')
    expect(g.access('team-secret')).toBe('read')
    expect(g.access('team-secret-2')).toBe('write')
    expect(new RoomGrant({ a: 'read' }).access('ab')).toBe('none')
  })
})

describe('token transport', () => {
  it('AUTH-5: the token comes from ?token= or a weft-token. subprotocol', () => {
    expect(extractToken(new URL('ws://h/relay/x?token=abc'), [])).toBe('abc')
    expect(extractToken(new URL('ws://h/relay/x'), ['weft', 'weft-token.abc.def'])).toBe('abc.def')
    expect(extractToken(new URL('ws://h/relay/x'), ['weft'])).toBeUndefined()
    expect(selectProtocol(new Set(['weft-token.abc', 'weft']))).toBe('weft')
    expect(selectProtocol(new Set(['weft-token.abc']))).toBe('weft-token.abc')
    expect(selectProtocol(new Set())).toBe(false)
  })

  it('AUTH-3: a token whose exp is not a finite number (1e400 parses to Infinity) is refused', async () => {
    const b64 = (text: string) => Buffer.from(text).toString('base64url')
    const unsigned = `${b64('{"alg":"HS256","typ":"JWT"}')}.${b64('{"rooms":{"a":"write"},"exp":1e400}')}`
    const token = `${unsigned}.${createHmac('sha256', SECRET).update(unsigned).digest('base64url')}`
    const r = await new Authenticator({ secret: SECRET }).authenticate(token)
    expect(r).toEqual({ ok: false, reason: 'token rejected: "exp" is not a finite number' })
  })
})

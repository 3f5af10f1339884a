import { createHmac } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import type { WeftError } from '@weft/core'
import {
  openDoc,
  WebSocketTransport,
  type TokenRequest,
  type WeftDocConnectionError,
} from '../../src/index.js'
import { startWeftServer, type WeftServer } from './support/weftServer.js'

const SECRET = 'a test secret that is at least 32 bytes long'

/** An HS256 JWT as `weft serve --auth-secret` verifies it (node:crypto: providers do not depend on a JWT library). */
const jwt = (claims: Record<string, unknown>): string => {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const body = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`
}
const now = () => Math.floor(Date.now() / 1000)

let server: WeftServer
beforeAll(async () => {
  server = await startWeftServer({ authSecret: SECRET })
})
afterAll(async () => {
  await server?.stop()
})

describe('token refusal against a real weft serve', () => {
  it('PROV-5.13 an expired token is reported (4401, expired), the token-refresh hook is told and its fresh token syncs', async () => {
    const requests: Array<TokenRequest['refused']> = []
    const relay = new WebSocketTransport({
      url: server.relayUrl,
      room: 'a1',
      WebSocketPolyfill: WebSocket,
      token: ({ refused }) => {
        requests.push(refused)
        const exp = refused === 'expired' ? now() + 600 : now() - 60
        return jwt({ rooms: { a1: 'write' }, exp })
      },
    })
    const handle = await openDoc({ docId: 'a1', relay, connect: false })
    const refusals: WeftDocConnectionError[] = []
    const errors: WeftError[] = []
    handle.on('connection-error', (e) => refusals.push(e))
    handle.on('error', ({ error }) => errors.push(error))
    handle.connect()
    await handle.whenSynced
    expect(refusals.map(({ code, reason, willRetry }) => ({ code, reason, willRetry }))).toEqual([
      { code: 4401, reason: 'expired', willRetry: true },
    ])
    expect(requests).toEqual([null, 'expired'])
    expect(errors).toEqual([]) // retried with a fresh token: not an error
    expect(handle.synced).toBe(true)
    await handle.destroy()
  })

  it('PROV-5.13 a token for another room (forbidden) and a token that does not verify (unauthorized) are reported with their close codes', async () => {
    const open = async (token: string) => {
      const relay = new WebSocketTransport({
        url: server.relayUrl,
        room: 'a2',
        WebSocketPolyfill: WebSocket,
        token,
      })
      const handle = await openDoc({ docId: 'a2', relay, connect: false })
      const refused = new Promise<WeftDocConnectionError>((r) => handle.once('connection-error', r))
      const failed = new Promise<WeftError>((r) => handle.once('error', ({ error }) => r(error)))
      handle.connect()
      const result = { refusal: await refused, error: await failed }
      await handle.destroy()
      return result
    }
    const forbidden = await open(jwt({ rooms: { other: 'write' }, exp: now() + 600 }))
    expect(forbidden.refusal).toMatchObject({
      code: 4005,
      reason: 'forbidden',
      kind: 'relay',
      willRetry: false,
    })
    expect(forbidden.error.code).toBe('auth-denied')
    const unauthorized = await open('not-a-jwt')
    expect(unauthorized.refusal).toMatchObject({ code: 4004, reason: 'unauthorized', willRetry: false })
    expect(unauthorized.error.code).toBe('auth-denied')
  })
})

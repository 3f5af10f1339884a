import { afterEach, describe, expect, it } from 'vitest'
import { SignJWT } from 'jose'
import * as Y from 'yjs'
import { SqliteDocStore } from '@weft/sqlite-store'
import { CloseCode, docId } from '@weft/core'
import { encodeSyncUpdate } from '@weft/core/protocol'
import { GatedStore } from '../helpers/GatedStore.js'
import { stockClient, textEquals, type StockClient } from '../helpers/stockClient.js'
import { TestClient } from '../helpers/TestClient.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long'
const token = (rooms: Record<string, string>, expSeconds = 60) =>
  new SignJWT({ rooms })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(Math.floor(Date.now() / 1000) + expSeconds)
    .sign(new TextEncoder().encode(SECRET))

let srv: TestServer | null = null
let store: GatedStore | null = null
const raw: TestClient[] = []
const stock: StockClient[] = []

afterEach(async () => {
  for (const c of stock.splice(0)) c.destroy()
  await Promise.all(raw.splice(0).map((c) => c.close()))
  await srv?.close()
  srv = null
})

const start = async () => {
  store = new GatedStore(new SqliteDocStore({ path: ':memory:' }))
  srv = await startTestServer({ store, auth: { secret: SECRET } })
  return srv
}
const open = async (path: string, protocols?: string[]) => {
  const c = await TestClient.open(`${srv?.ws}${path}`, protocols)
  raw.push(c)
  return c
}
const anUpdate = () => {
  const d = new Y.Doc()
  d.getText('t').insert(0, 'intruder')
  return Y.encodeStateAsUpdate(d)
}

describe('auth matrix (AUTH, RELAY-4, SIG-3)', () => {
  it.each([
    ['no token', async (): Promise<string> => '', CloseCode.Unauthorized],
    [
      'a token for another room',
      async () => `?token=${await token({ other: 'write' })}`,
      CloseCode.Forbidden,
    ],
    [
      'an expired token',
      async () => `?token=${await token({ secret: 'write' }, -60)}`,
      CloseCode.TokenExpired,
    ],
    [
      'a forged token',
      async () => `?token=${(await token({ secret: 'write' })).slice(0, -3)}abc`,
      CloseCode.Unauthorized,
    ],
  ])('relay: %s is refused with a named code and nothing is written', async (_name, query, code) => {
    await start()
    const c = await open(`/relay/secret${await query()}`)
    c.send(encodeSyncUpdate(anUpdate()))
    expect((await c.closed).code).toBe(code)
    expect(store?.appends).toBe(0)
    expect(await store?.load(docId('secret'))).toBeNull()
  })

  it('RELAY-4.3: a read-only connection reads, but its update closes it with ReadOnly and nothing is written', async () => {
    await start()
    const writer = stockClient(`${srv?.ws}/relay`, 'ro', { params: { token: await token({ ro: 'write' }) } })
    stock.push(writer)
    await writer.synced()
    const stored = store?.nextAppend()
    writer.doc.getText('t').insert(0, 'from the writer')
    await stored
    const reader = stockClient(`${srv?.ws}/relay`, 'ro', { params: { token: await token({ 'r*': 'read' }) } })
    stock.push(reader)
    await reader.synced()
    expect(reader.doc.getText('t').toString()).toBe('from the writer')
    const appendsBefore = store?.appends
    const closed = new Promise<number>((resolve) => {
      reader.provider.once('connection-close', (e: CloseEvent | null) => resolve(e?.code ?? 0))
    })
    reader.doc.getText('t').insert(0, 'NOT ALLOWED ')
    expect(await closed).toBe(CloseCode.ReadOnly)
    reader.provider.disconnect()
    // The writer never sees it and nothing more was stored.
    writer.doc.getText('t').insert(0, '!')
    await store?.nextAppend()
    expect(store?.appends).toBe((appendsBefore ?? 0) + 1)
    expect(writer.doc.getText('t').toString()).toBe('!from the writer')
  })

  it('AUTH-5: a token in the weft-token. subprotocol is accepted', async () => {
    await start()
    const c = await open('/relay/sub', ['weft', `weft-token.${await token({ sub: 'write' })}`])
    expect(c.ws.protocol).toBe('weft')
    const w = stockClient(`${srv?.ws}/relay`, 'sub', { params: { token: await token({ sub: 'write' }) } })
    stock.push(w)
    await w.synced()
    c.send(encodeSyncUpdate(anUpdate()))
    await textEquals(w.doc, 'intruder')
  })

  it('AUTH-6: an open connection is closed with TokenExpired when its token expires', async () => {
    await start()
    const c = await open(`/relay/exp?token=${await token({ exp: 'write' }, 1)}`)
    const closed = await c.closed
    expect(closed.code).toBe(CloseCode.TokenExpired)
  })

  it.each([
    ['no token', async (): Promise<string> => '', CloseCode.Unauthorized],
    ['an expired token', async () => `?token=${await token({ t: 'write' }, -60)}`, CloseCode.TokenExpired],
  ])(
    'signal: %s is refused',
    async (_n: string, query: () => Promise<string>, code: number): Promise<void> => {
      await start()
      const c = await open(`/signal${await query()}`)
      expect((await c.closed).code).toBe(code)
    },
  )

  it('SIG-3.1: signaling topics are checked against the token; write access is needed', async () => {
    await start()
    const c = await open(`/signal?token=${await token({ 'room-*': 'write' })}`)
    c.sendJson({ type: 'subscribe', topics: ['room-1'] })
    c.sendJson({ type: 'publish', topic: 'room-1', x: 1 })
    expect((await c.nextJson())['clients']).toBe(1)
    c.sendJson({ type: 'subscribe', topics: ['other'] })
    expect((await c.closed).code).toBe(CloseCode.Forbidden)
    const d = await open(`/signal?token=${await token({ 'room-*': 'write' })}`)
    d.sendJson({ type: 'publish', topic: 'other' })
    expect((await d.closed).code).toBe(CloseCode.Forbidden)
  })

  it.each([
    ['subscribe', { type: 'subscribe', topics: ['room-1'] }],
    ['publish', { type: 'publish', topic: 'room-1', signal: 'offer' }],
  ])(
    'SIG-3.1: a read grant may not %s on /signal (it would join the WebRTC mesh)',
    async (_name, message) => {
      await start()
      const writer = await open(`/signal?token=${await token({ 'room-1': 'write' })}`)
      writer.sendJson({ type: 'subscribe', topics: ['room-1'] })
      writer.sendJson({ type: 'publish', topic: 'room-1', marker: 'subscribed' })
      expect((await writer.nextJson())['marker']).toBe('subscribed')
      const reader = await open(`/signal?token=${await token({ 'room-*': 'read' })}`)
      reader.sendJson(message)
      expect((await reader.closed).code).toBe(CloseCode.ReadOnly)
      // The writer got nothing from the reader: its own next publish is the next message it sees.
      writer.sendJson({ type: 'publish', topic: 'room-1', marker: 'after' })
      expect(await writer.nextJson()).toEqual({
        type: 'publish',
        topic: 'room-1',
        marker: 'after',
        clients: 1,
      })
    },
  )
})

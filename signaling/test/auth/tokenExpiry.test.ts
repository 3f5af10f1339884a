import { afterEach, describe, expect, it, vi } from 'vitest'
import { SignJWT } from 'jose'
import * as Y from 'yjs'
import { SqliteDocStore } from '@weft/sqlite-store'
import { CloseCode, docId } from '@weft/core'
import { encodeSyncUpdate } from '@weft/core/protocol'
import { GatedStore } from '../helpers/GatedStore.js'
import { RawWsClient, maskedFrame } from '../helpers/RawWsClient.js'
import { stockClient, type StockClient } from '../helpers/stockClient.js'
import { TestClient } from '../helpers/TestClient.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'

// Issue 12 item 1: a token that expired moments ago must not write, read or signal anything.

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long'
const OPCODE_TEXT = 0x1
const OPCODE_BINARY = 0x2
const OPCODE_CLOSE = 0x8

/** A token whose `exp` is `expSeconds` from now (negative: in the past). */
const token = (rooms: Record<string, string>, expSeconds: number) =>
  new SignJWT({ rooms })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(Math.floor(Date.now() / 1000) + expSeconds)
    .sign(new TextEncoder().encode(SECRET))

let srv: TestServer | null = null
let store: GatedStore | null = null
const clients: Array<{ close(): unknown }> = []
const stock: StockClient[] = []

afterEach(async () => {
  vi.useRealTimers()
  for (const c of stock.splice(0)) c.destroy()
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await srv?.close()
  srv = null
})

const start = async () => {
  store = new GatedStore(new SqliteDocStore({ path: ':memory:' }))
  srv = await startTestServer({ store, auth: { secret: SECRET } })
  return srv
}

/** Stops the server (which writes everything it accepted) and returns how many appends reached the store. */
const storedAppends = async (): Promise<number> => {
  await srv?.server.close()
  return store?.appends ?? 0
}

const anUpdate = (text: string) => {
  const d = new Y.Doc()
  d.getText('t').insert(0, text)
  return Y.encodeStateAsUpdate(d)
}

const closeCodeOf = (frame: { payload: Buffer } | null): number | null =>
  frame && frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : null

/** Sends an upgrade request and `frames` behind it in one write, so that they arrive as the upgrade's `head`. */
const pipelined = async (request: string, frames: readonly Buffer[]): Promise<RawWsClient> => {
  const raw = await RawWsClient.connect(srv?.port ?? 0, '')
  raw.send(Buffer.concat([Buffer.from(request, 'latin1'), ...frames]))
  clients.push({ close: () => raw.destroy() })
  return raw
}

/** A raw client that sends `frames` the moment it has read the 101 response. */
const writesRightAfterUpgrade = async (request: string, frames: readonly Buffer[]): Promise<RawWsClient> => {
  const raw = await RawWsClient.connect(srv?.port ?? 0, request)
  clients.push({ close: () => raw.destroy() })
  expect((await raw.response()).status).toBe(101)
  raw.send(Buffer.concat(frames))
  return raw
}

const openClient = async (url: string) => {
  const c = await TestClient.open(url)
  clients.push(c)
  return c
}

describe('token expiry (AUTH-6, AUTH-7, AUTH-8)', () => {
  it('AUTH-7: a client writing right after the upgrade with a token that expired 1 s ago stores nothing', async () => {
    await start()
    const request = RawWsClient.request(`/relay/late?token=${await token({ late: 'write' }, -1)}`)
    const frames = [0, 1, 2, 3, 4].map((i) =>
      maskedFrame(OPCODE_BINARY, encodeSyncUpdate(anUpdate(`late write ${i}`))),
    )
    const raw = await writesRightAfterUpgrade(request, frames)
    expect(closeCodeOf(await raw.frameOf(OPCODE_CLOSE))).toBe(CloseCode.TokenExpired)
    await raw.ended
    expect(await storedAppends()).toBe(0)
  })

  it('AUTH-7: updates pipelined behind the upgrade request of an expired token are not stored', async () => {
    await start()
    const frames = [0, 1, 2].map((i) =>
      maskedFrame(OPCODE_BINARY, encodeSyncUpdate(anUpdate(`pipelined ${i}`))),
    )
    const request = RawWsClient.request(`/relay/piped?token=${await token({ piped: 'write' }, -1)}`)
    const raw = await pipelined(request, frames)
    expect((await raw.response()).status).toBe(101)
    expect(closeCodeOf(await raw.frameOf(OPCODE_CLOSE))).toBe(CloseCode.TokenExpired)
    await raw.ended
    expect(await storedAppends()).toBe(0)
  })

  it('AUTH-7: signaling frames pipelined behind the upgrade of an expired token are not delivered', async () => {
    await start()
    const listener = await openClient(`${srv?.ws}/signal?token=${await token({ room: 'write' }, 60)}`)
    listener.sendJson({ type: 'subscribe', topics: ['room'] })
    listener.sendJson({ type: 'publish', topic: 'room', marker: 'subscribed' })
    expect((await listener.nextJson())['marker']).toBe('subscribed')

    const json = (m: unknown) => maskedFrame(OPCODE_TEXT, Buffer.from(JSON.stringify(m)))
    const request = RawWsClient.request(`/signal?token=${await token({ room: 'write' }, -1)}`)
    const raw = await pipelined(request, [
      json({ type: 'subscribe', topics: ['room'] }),
      json({ type: 'publish', topic: 'room', marker: 'from the expired token' }),
    ])
    expect((await raw.response()).status).toBe(101)
    expect(closeCodeOf(await raw.frameOf(OPCODE_CLOSE))).toBe(CloseCode.TokenExpired)
    await raw.ended
    // Messages to one connection keep their order: had the expired publish been delivered, it would come first.
    listener.sendJson({ type: 'publish', topic: 'room', marker: 'after' })
    expect(await listener.nextJson()).toEqual({ type: 'publish', topic: 'room', marker: 'after', clients: 1 })
  })

  it('AUTH-8: a token expiring while connected: the first message after expiry closes it and is not stored', async () => {
    // Only Date is faked: the expiry timer (60 s away) stays real and cannot be what closes the connection.
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now())
    await start()
    const c = await openClient(`${srv?.ws}/relay/live?token=${await token({ live: 'write' }, 60)}`)
    const stored = store?.nextAppend()
    c.send(encodeSyncUpdate(anUpdate('before expiry')))
    await stored
    vi.setSystemTime(Date.now() + 61_000)
    c.send(encodeSyncUpdate(anUpdate('after expiry')))
    expect((await c.closed).code).toBe(CloseCode.TokenExpired)
    expect(await storedAppends()).toBe(1)
  })

  it('AUTH-8: signaling after expiry: publishes from the connection and deliveries to it stop', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now())
    await start()
    const fresh = await openClient(`${srv?.ws}/signal?token=${await token({ room: 'write' }, 600)}`)
    const expiring = await openClient(`${srv?.ws}/signal?token=${await token({ room: 'write' }, 60)}`)
    fresh.sendJson({ type: 'subscribe', topics: ['room'] })
    expiring.sendJson({ type: 'subscribe', topics: ['room'] })
    expiring.sendJson({ type: 'publish', topic: 'room', marker: 'live' })
    expect((await fresh.nextJson())['marker']).toBe('live')
    expect((await expiring.nextJson())['marker']).toBe('live')
    vi.setSystemTime(Date.now() + 61_000)
    // A delivery to the expired subscriber closes it instead.
    fresh.sendJson({ type: 'publish', topic: 'room', marker: 'to everyone' })
    expect((await fresh.nextJson())['marker']).toBe('to everyone')
    expect((await expiring.closed).code).toBe(CloseCode.TokenExpired)
    expect(expiring.pending).toBe(0)
  })

  it('AUTH-8: an expired publisher is closed by its next message, which is not delivered', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now())
    await start()
    const listener = await openClient(`${srv?.ws}/signal?token=${await token({ room: 'write' }, 600)}`)
    const expiring = await openClient(`${srv?.ws}/signal?token=${await token({ room: 'write' }, 60)}`)
    listener.sendJson({ type: 'subscribe', topics: ['room'] })
    listener.sendJson({ type: 'publish', topic: 'room', marker: 'subscribed' })
    expect((await listener.nextJson())['marker']).toBe('subscribed')
    vi.setSystemTime(Date.now() + 61_000)
    expiring.sendJson({ type: 'publish', topic: 'room', marker: 'from the expired token' })
    expect((await expiring.closed).code).toBe(CloseCode.TokenExpired)
    listener.sendJson({ type: 'publish', topic: 'room', marker: 'after' })
    expect((await listener.nextJson())['marker']).toBe('after')
  })

  it('AUTH-7: a stock y-websocket client with an expired token stops reconnecting (close code in 4400-4499)', async () => {
    await start()
    const client = stockClient(`${srv?.ws}/relay`, 'stock', {
      params: { token: await token({ stock: 'write' }, -1) },
    })
    stock.push(client)
    const closed = await new Promise<{ code: number }>((resolve) => {
      client.provider.once('closed', (event: { code: number }) => resolve(event))
    })
    expect(closed.code).toBe(CloseCode.TokenExpired)
    expect(client.provider.shouldConnect).toBe(false)
    expect(await store?.load(docId('stock'))).toBeNull()
  })
})

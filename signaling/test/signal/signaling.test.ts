import { afterEach, describe, expect, it } from 'vitest'
import { CloseCode } from '@weft/core'
import { TestClient } from '../helpers/TestClient.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'

let srv: TestServer | null = null
const clients: TestClient[] = []
const open = async (url: string) => {
  const c = await TestClient.open(url)
  clients.push(c)
  return c
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await srv?.close()
  srv = null
})

const start = async (options: Parameters<typeof startTestServer>[0] = {}) => {
  srv = await startTestServer({ relay: false, ...options })
  return srv
}

describe('/signal: the y-webrtc signaling protocol', () => {
  it('SIG-2.3: publish reaches every subscriber of the topic, the sender included, with a clients count', async () => {
    const s = await start()
    const a = await open(`${s.ws}/signal`)
    const b = await open(`${s.ws}/signal`)
    const c = await open(`${s.ws}/signal`)
    a.sendJson({ type: 'subscribe', topics: ['room-1'] })
    b.sendJson({ type: 'subscribe', topics: ['room-1'] })
    c.sendJson({ type: 'subscribe', topics: ['room-2'] })
    // Ordering on one socket: once b's ping is answered, its subscribe was processed.
    b.sendJson({ type: 'ping' })
    await b.nextJson((m) => m['type'] === 'pong')
    a.sendJson({ type: 'ping' })
    await a.nextJson((m) => m['type'] === 'pong')

    a.sendJson({ type: 'publish', topic: 'room-1', data: { hello: 'world' } })
    const atB = await b.nextJson((m) => m['type'] === 'publish')
    const atA = await a.nextJson((m) => m['type'] === 'publish')
    expect(atB).toEqual({ type: 'publish', topic: 'room-1', data: { hello: 'world' }, clients: 2 })
    expect(atA).toEqual(atB)
    // c (other topic) got nothing: its own ping round trip comes first.
    c.sendJson({ type: 'ping' })
    await c.nextJson((m) => m['type'] === 'pong')
    expect(c.pending).toBe(0)
  })

  it('SIG-2.2, SIG-6: unsubscribe and disconnect stop delivery', async () => {
    const s = await start()
    const a = await open(`${s.ws}/signal`)
    const b = await open(`${s.ws}/signal`)
    a.sendJson({ type: 'subscribe', topics: ['t'] })
    b.sendJson({ type: 'subscribe', topics: ['t'] })
    b.sendJson({ type: 'unsubscribe', topics: ['t'] })
    b.sendJson({ type: 'ping' })
    await b.nextJson((m) => m['type'] === 'pong')
    a.sendJson({ type: 'publish', topic: 't', n: 1 })
    expect((await a.nextJson((m) => m['type'] === 'publish'))['clients']).toBe(1)
    b.sendJson({ type: 'ping' })
    await b.nextJson((m) => m['type'] === 'pong')
    expect(b.pending).toBe(0)

    const c = await open(`${s.ws}/signal`)
    c.sendJson({ type: 'subscribe', topics: ['t'] })
    c.sendJson({ type: 'publish', topic: 't' })
    expect((await a.nextJson((m) => m['type'] === 'publish'))['clients']).toBe(2)
    await c.close()
    a.sendJson({ type: 'publish', topic: 't' })
    expect((await a.nextJson((m) => m['type'] === 'publish'))['clients']).toBe(1)
  })

  it('SIG-2.4: ping is answered with pong', async () => {
    const s = await start()
    const a = await open(`${s.ws}/signal`)
    a.sendJson({ type: 'ping' })
    expect(await a.nextJson()).toEqual({ type: 'pong' })
  })

  it.each([
    ['not JSON', '{"type": "subscribe", '],
    ['not an object', '[1,2,3]'],
    ['unknown type', '{"type":"launch"}'],
    ['topics not strings', '{"type":"subscribe","topics":[1]}'],
    ['publish without topic', '{"type":"publish"}'],
  ])(
    'SIG-5: a malformed frame (%s) closes that connection with MalformedMessage, others carry on',
    async (_n, frame) => {
      const s = await start()
      const bad = await open(`${s.ws}/signal`)
      const good = await open(`${s.ws}/signal`)
      bad.send(frame)
      expect((await bad.closed).code).toBe(CloseCode.MalformedMessage)
      good.sendJson({ type: 'ping' })
      expect(await good.nextJson()).toEqual({ type: 'pong' })
    },
  )

  it('SIG-4.1: subscribing to more topics than allowed closes with TooManyRooms', async () => {
    const s = await start({ limits: { maxRoomsPerConnection: 3 } })
    const a = await open(`${s.ws}/signal`)
    a.sendJson({ type: 'subscribe', topics: ['a', 'b', 'c'] })
    a.sendJson({ type: 'subscribe', topics: ['a', 'd'] })
    expect((await a.closed).code).toBe(CloseCode.TooManyRooms)
  })

  it('CONN-1: a message over the size limit closes with MessageTooLarge', async () => {
    const s = await start({ limits: { maxSignalMessageBytes: 1024 } })
    const a = await open(`${s.ws}/signal`)
    a.sendJson({ type: 'publish', topic: 't', data: 'x'.repeat(1500) })
    expect((await a.closed).code).toBe(CloseCode.MessageTooLarge)
  })

  it('CONN-2.2: sending faster than the rate limit for longer than maxThrottleMs closes with RateLimited', async () => {
    // 80 messages over the burst at 10/s: 8 s of backpressure (CONN-2.1), past the 0.5 s abuse bound.
    const s = await start({ limits: { messagesPerSecond: 10, messageBurst: 20, maxThrottleMs: 500 } })
    const a = await open(`${s.ws}/signal`)
    for (let i = 0; i < 100; i++) a.sendJson({ type: 'ping' })
    expect((await a.closed).code).toBe(CloseCode.RateLimited)
  })

  it('CONN-5: connections past maxConnections are closed with ServerFull', async () => {
    const s = await start({ limits: { maxConnections: 2 } })
    await open(`${s.ws}/signal`)
    await open(`${s.ws}/signal`)
    const third = await open(`${s.ws}/signal`)
    expect((await third.closed).code).toBe(CloseCode.ServerFull)
  })

  it('CONN-3: a peer that does not answer pings is dropped with HeartbeatTimeout', async () => {
    const s = await start({ limits: { heartbeatIntervalMs: 50 } })
    // A client that does not answer pings (ws answers them automatically otherwise).
    const a = await TestClient.open(`${s.ws}/signal`, undefined, { autoPong: false })
    clients.push(a)
    const closed = await a.closed
    expect([CloseCode.HeartbeatTimeout, 1006]).toContain(closed.code)
    expect(s.server.metrics.closes.get({ code: 'HeartbeatTimeout' })).toBe(1)
  })

  it('SIG-1: unknown paths are refused with 404, plain HTTP on /signal with 426', async () => {
    const s = await start()
    await expect(TestClient.open(`${s.ws}/nope`)).rejects.toThrow(/404/)
    expect((await fetch(`${s.http}/signal`)).status).toBe(426)
  })
})

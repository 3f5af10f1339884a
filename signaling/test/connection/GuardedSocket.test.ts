import { afterEach, describe, expect, it } from 'vitest'
import { CloseCode } from '@weft/core'
import { Duplex } from 'node:stream'
import { pino } from 'pino'
import { GuardedSocket, guardedSocketContext } from '../../src/connection/GuardedSocket.js'
import { InputBudget } from '../../src/connection/InputBudget.js'
import { ServerMetrics } from '../../src/metrics/ServerMetrics.js'
import { SharedMessage } from '../../src/relay/SharedMessage.js'
import { DEFAULT_LIMITS } from '../../src/ServerLimits.js'
import { TestClient } from '../helpers/TestClient.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'

let srv: TestServer | null = null
const clients: TestClient[] = []

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await srv?.close()
  srv = null
})

const open = async (url: string) => {
  const c = await TestClient.open(url)
  clients.push(c)
  return c
}

describe('GuardedSocket', () => {
  it('CONN-2: the byte bucket refuses a burst over its size and closes with RateLimited', async () => {
    srv = await startTestServer({
      relay: false,
      limits: { maxSignalMessageBytes: 1000, byteBurst: 1000, bytesPerSecond: 1 },
    })
    const c = await open(`${srv.ws}/signal`)
    const ping = JSON.stringify({ type: 'ping', pad: 'x'.repeat(400) })
    c.ws.send(ping)
    await c.nextJson((m) => m['type'] === 'pong')
    c.ws.send(ping)
    await c.nextJson((m) => m['type'] === 'pong')
    c.ws.send(ping)
    expect((await c.closed).code).toBe(CloseCode.RateLimited)
    expect(srv.server.metrics.closes.get({ code: 'RateLimited' })).toBe(1)
  })

  it('CONN-9.4: a shared message is framed once; every socket it is sent to writes the same bytes', () => {
    const metrics = new ServerMetrics({
      connections: () => [],
      topics: () => 0,
      docsLoaded: () => 0,
      relayRooms: () => 0,
    })
    const ctx = guardedSocketContext(
      'relay',
      DEFAULT_LIMITS,
      metrics,
      InputBudget.forServer(metrics, DEFAULT_LIMITS.maxPendingInputBytes),
      pino({ level: 'silent' }),
      () => undefined,
    )
    const written: unknown[][] = []
    const sockets = [1, 2, 3].map((id) => {
      const writes: unknown[] = []
      written.push(writes)
      const stream = new Duplex({
        read: () => undefined,
        write: (chunk: unknown, _encoding, done) => {
          writes.push(chunk)
          done()
        },
      })
      return new GuardedSocket(stream, Buffer.alloc(0), '', id, ctx)
    })
    const message = new SharedMessage([Uint8Array.from([0, 2]), Uint8Array.from([1, 7])])
    for (const socket of sockets) expect(socket.send(message)).toBe(true)
    const frame = written[0]?.[0]
    expect(frame instanceof Buffer && [...frame]).toEqual([0x82, 4, 0, 2, 1, 7])
    for (const writes of written) expect(writes).toEqual([frame]) // equal...
    for (const writes of written) expect(writes[0]).toBe(frame) // ...and the very same buffer
    for (const socket of sockets) socket.terminate()
  })

  it('the per-endpoint counters count every message in and out without label lookups', async () => {
    srv = await startTestServer({ relay: false })
    const c = await open(`${srv.ws}/signal`)
    c.sendJson({ type: 'ping' })
    await c.nextJson((m) => m['type'] === 'pong')
    const m = srv.server.metrics
    expect(m.messagesIn.get({ endpoint: 'signal' })).toBe(1)
    expect(m.messagesOut.get({ endpoint: 'signal' })).toBe(1)
    expect(m.bytesIn.get({ endpoint: 'signal' })).toBe(Buffer.byteLength('{"type":"ping"}'))
    expect(await m.render()).toContain('weft_messages_received_total{endpoint="signal"} 1')
  })
})

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

  const heartbeatSocket = () => {
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
    const writes: Buffer[] = []
    const stream = new Duplex({
      read: () => undefined,
      write: (chunk: Buffer, _encoding, done) => {
        writes.push(chunk)
        done()
      },
    })
    const socket = new GuardedSocket(stream, Buffer.alloc(0), '', 1, ctx)
    const pings = () => writes.filter((w) => w[0] === 0x89).length
    // The client's pong: a masked control frame without payload.
    const pong = async () => {
      stream.push(Buffer.from([0x8a, 0x80, 1, 2, 3, 4]))
      await new Promise(setImmediate)
    }
    return { socket, writes, pings, pong, sweepMs: ctx.sweeps.sweepMs }
  }

  it('CONN-3, CONN-3.1: at the default 5 s timeout an idle connection is pinged after 1.5 s of silence (every 2 s while it answers, 3 s left for its pong) and cut before 5 s', async () => {
    const { socket, writes, pings, pong, sweepMs } = heartbeatSocket()
    expect(sweepMs).toBe(500)
    const sweepsWithPing: number[] = []
    for (let sweep = 1; sweep <= 24; sweep++) {
      const before = pings()
      socket.heartbeat()
      if (pings() > before) {
        sweepsWithPing.push(sweep)
        await pong()
      }
    }
    // Sweeps 500 ms apart: the connection was last heard just before sweep 1, 5, 9, ... (its pongs).
    expect(sweepsWithPing).toEqual([4, 8, 12, 16, 20, 24])
    // Now it answers nothing: heard before sweep 25, pinged at its third silent sweep (28), cut at its ninth (34):
    // 3 s after the ping, less than 5 s after the pong.
    for (let sweep = 25; sweep <= 33; sweep++) socket.heartbeat()
    expect(socket.open).toBe(true)
    expect(pings()).toBe(7)
    socket.heartbeat()
    expect(socket.open).toBe(false)
    const close = writes.find((w) => w[0] === 0x88)
    expect(close?.readUInt16BE(2)).toBe(CloseCode.HeartbeatTimeout)
    socket.terminate()
  })

  it('CONN-3.1: a connection that sends about once a second (gaps of 1.0-1.4 s) is never pinged', async () => {
    const { socket, pings, pong, sweepMs } = heartbeatSocket()
    // Its messages (pongs stand for any bytes) every 1,000-1,400 ms, deterministic; sweeps every sweepMs.
    let nextMessage = 700
    for (let now = sweepMs; now <= 60_000; now += sweepMs) {
      while (nextMessage < now) {
        await pong()
        nextMessage += 1000 + ((nextMessage * 7) % 401)
      }
      socket.heartbeat()
    }
    // With sweeps once a second and a ping after one silent sweep, every gap that spanned a sweep cost a ping.
    expect(pings()).toBe(0)
    expect(socket.open).toBe(true)
    socket.terminate()
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

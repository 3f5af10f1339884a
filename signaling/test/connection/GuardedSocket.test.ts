import { afterEach, describe, expect, it } from 'vitest'
import { CloseCode } from '@weft/core'
import { SharedMessage } from '../../src/relay/SharedMessage.js'
import { frameOf } from '../../src/ws/frames.js'
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

  it('CONN-9.4: a shared message is framed once; every send of it reuses the same frame', () => {
    const message = new SharedMessage([Uint8Array.from([0, 2]), Uint8Array.from([1, 7])])
    const frame = frameOf(message)
    expect([...frame]).toEqual([0x82, 4, 0, 2, 1, 7])
    expect(frameOf(message)).toBe(frame)
    expect([...message.bytes()]).toEqual([0, 2, 1, 7])
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

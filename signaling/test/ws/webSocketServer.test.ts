import { afterEach, describe, expect, it } from 'vitest'
import { CloseCode } from '@weft/core'
import { acceptKey } from '../../src/ws/acceptWebSocket.js'
import { Opcode, encodeClosePayload } from '../../src/ws/frames.js'
import { RawWsClient, maskedFrame } from '../helpers/RawWsClient.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { TestClient } from '../helpers/TestClient.js'

let srv: TestServer | null = null
const raws: RawWsClient[] = []

afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy()
  await srv?.close()
  srv = null
})

const start = async (options: Parameters<typeof startTestServer>[0] = {}) => {
  srv = await startTestServer({ relay: false, ...options })
  return srv
}

const open = async (port: number, path = '/signal', extra: string[] = []) => {
  const raw = await RawWsClient.connect(port, RawWsClient.request(path, extra))
  raws.push(raw)
  return raw
}

const closeCodeOf = (frame: { payload: Buffer } | null) => frame?.payload.readUInt16BE(0)

describe('the server WebSocket layer (RFC 6455)', () => {
  it('CONN-9: Sec-WebSocket-Accept is computed as in RFC 6455 §1.3', async () => {
    expect(acceptKey('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=')
    const s = await start()
    const raw = await open(s.port)
    const res = await raw.response()
    expect(res.status).toBe(101)
    expect(res.headers['sec-websocket-accept']).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=')
    expect(res.headers['upgrade']?.toLowerCase()).toBe('websocket')
    // CONN-8: no extension is accepted, even when offered.
    expect(res.headers['sec-websocket-extensions']).toBeUndefined()
  })

  it('CONN-9: bad handshakes are refused with an HTTP status; a wrong version gets 426 and the supported one', async () => {
    const s = await start()
    const noKey = await RawWsClient.connect(
      s.port,
      'GET /signal HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n',
    )
    raws.push(noKey)
    expect((await noKey.response()).status).toBe(400)
    const v8 = await RawWsClient.connect(
      s.port,
      RawWsClient.request('/signal').replace('Sec-WebSocket-Version: 13', 'Sec-WebSocket-Version: 8'),
    )
    raws.push(v8)
    const res = await v8.response()
    expect(res.status).toBe(426)
    expect(res.headers['sec-websocket-version']).toBe('13')
    const unknown = await open(s.port, '/nowhere')
    expect((await unknown.response()).status).toBe(404)
  })

  it('AUTH-5: the first offered subprotocol that is not a token is selected', async () => {
    const s = await start()
    const raw = await open(s.port, '/signal', ['Sec-WebSocket-Protocol: weft-token.abc, chat, other'])
    expect((await raw.response()).headers['sec-websocket-protocol']).toBe('chat')
    const c = await TestClient.open(`${s.ws}/signal`, ['weft-token.abc'])
    expect(c.ws.protocol).toBe('weft-token.abc')
    await c.close()
  })

  it('CONN-9: a ping is answered with a pong carrying the same payload; text messages work', async () => {
    const s = await start()
    const raw = await open(s.port)
    await raw.response()
    raw.send(maskedFrame(Opcode.Ping, Buffer.from('hi there')))
    const pong = await raw.frameOf(Opcode.Pong)
    expect(pong?.payload.toString()).toBe('hi there')
    // A ping message of the signaling protocol, fragmented in three frames.
    const text = Buffer.from('{"type":"ping"}')
    raw.send(maskedFrame(Opcode.Text, text.subarray(0, 3), { fin: false }))
    raw.send(maskedFrame(Opcode.Continuation, text.subarray(3, 9), { fin: false }))
    raw.send(maskedFrame(Opcode.Continuation, text.subarray(9)))
    const answer = await raw.frameOf(Opcode.Text)
    expect(JSON.parse(answer?.payload.toString() ?? '')).toEqual({ type: 'pong' })
  })

  it('CONN-9: a close from the client is answered with the same code and the server ends the TCP connection', async () => {
    const s = await start()
    const raw = await open(s.port)
    await raw.response()
    raw.send(maskedFrame(Opcode.Close, encodeClosePayload(1000, 'done')))
    const close = await raw.frameOf(Opcode.Close)
    expect(closeCodeOf(close)).toBe(1000)
    await raw.ended
  })

  it('CONN-1, CONN-9: protocol violations close with a named code and one line; an unmasked frame is malformed', async () => {
    const s = await start()
    const unmasked = await open(s.port)
    await unmasked.response()
    unmasked.send(maskedFrame(Opcode.Text, Buffer.from('{"type":"ping"}'), { masked: false }))
    expect(closeCodeOf(await unmasked.frameOf(Opcode.Close))).toBe(CloseCode.MalformedMessage)

    const reserved = await open(s.port)
    await reserved.response()
    reserved.send(maskedFrame(Opcode.Text, Buffer.from('{}'), { rsv: 0x40 }))
    expect(closeCodeOf(await reserved.frameOf(Opcode.Close))).toBe(CloseCode.MalformedMessage)

    // Oversize: only the header of a 1 MB frame is sent; the server refuses from the header.
    const big = await open(s.port)
    await big.response()
    big.send(maskedFrame(Opcode.Binary, Buffer.alloc(1 << 20)).subarray(0, 14))
    expect(closeCodeOf(await big.frameOf(Opcode.Close))).toBe(CloseCode.MessageTooLarge)
    expect(s.server.metrics.closes.get({ code: 'MalformedMessage' })).toBe(2)
    expect(s.server.metrics.closes.get({ code: 'MessageTooLarge' })).toBe(1)
  })

  it('CONN-6: a server close waits for the peer; after closeGraceMs without an answer the socket is cut', async () => {
    const s = await start({ limits: { closeGraceMs: 50 } })
    const raw = await open(s.port)
    await raw.response()
    raw.send(maskedFrame(Opcode.Text, Buffer.from('not json')))
    expect(closeCodeOf(await raw.frameOf(Opcode.Close))).toBe(CloseCode.MalformedMessage)
    // The client never answers the close: the server cuts the connection.
    await raw.ended
  })

  it('CONN-3: the heartbeat pings; a client that answers neither ping nor anything else is dropped', async () => {
    const s = await start({ limits: { heartbeatIntervalMs: 30 } })
    const raw = await open(s.port)
    await raw.response()
    expect(await raw.frameOf(Opcode.Ping)).not.toBeNull()
    expect(closeCodeOf(await raw.frameOf(Opcode.Close))).toBe(CloseCode.HeartbeatTimeout)
    await raw.ended
  })
})

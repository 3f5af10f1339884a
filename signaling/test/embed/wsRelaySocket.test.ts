/** WsRelaySocket, the relay over a `ws` WebSocket (EMBED-4), on a stand-in socket. */
import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { CloseCode } from '@weft/core'
import { WsRelaySocket, type WsWebSocket } from '@weft/signaling'

/** What WsRelaySocket uses of a `ws` WebSocket, recording what it is asked to do. */
class FakeWs extends EventEmitter {
  readyState = 1
  bufferedAmount = 0
  readonly sent: Uint8Array[] = []
  closedWith: { code?: number | undefined; reason?: string | undefined } | null = null
  send(data: Uint8Array): void {
    this.sent.push(data)
  }
  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason }
    this.readyState = 2
  }
}

describe('WsRelaySocket', () => {
  it('EMBED-4: messages before the relay attaches are kept in order up to maxEarlyBytes; a peer sending more meanwhile is closed with RateLimited', () => {
    const ws = new FakeWs()
    const socket = new WsRelaySocket(ws as unknown as WsWebSocket, { maxEarlyBytes: 10 })
    ws.emit('message', Buffer.from('12345'), true)
    ws.emit('message', Buffer.from('6789'), true)
    expect(ws.closedWith).toBeNull()
    ws.emit('message', Buffer.from('ab'), true)
    expect(ws.closedWith?.code).toBe(CloseCode.RateLimited)
    const got: string[] = []
    socket.attach({ onMessage: (data) => void got.push(String(data)), onClose: () => undefined })
    expect(got).toEqual([])

    const ok = new FakeWs()
    const kept = new WsRelaySocket(ok as unknown as WsWebSocket, { maxEarlyBytes: 10 })
    ok.emit('message', Buffer.from('12345'), true)
    ok.emit('message', Buffer.from('6789'), true)
    const seen: string[] = []
    kept.attach({ onMessage: (data) => void seen.push(String(data)), onClose: () => undefined })
    expect(seen).toEqual(['12345', '6789'])
    // Once attached, messages go straight through, whatever their size.
    ok.emit('message', Buffer.alloc(100, 1), true)
    expect(seen).toHaveLength(3)
    expect(ok.closedWith).toBeNull()
  })

  it('EMBED-4: a peer with more than maxBufferedBytes queued is closed with SlowConsumer when the relay sends', () => {
    const ws = new FakeWs()
    const socket = new WsRelaySocket(ws as unknown as WsWebSocket, { maxBufferedBytes: 100 })
    socket.attach({ onMessage: () => undefined, onClose: () => undefined })
    expect(socket.send(new Uint8Array([1]))).toBe(true)
    ws.bufferedAmount = 101
    expect(socket.send(new Uint8Array([2]))).toBe(false)
    expect(ws.closedWith?.code).toBe(CloseCode.SlowConsumer)
    expect(ws.sent).toHaveLength(1)
  })
})

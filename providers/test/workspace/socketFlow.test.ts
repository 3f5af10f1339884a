import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { decodeWorkspaceFrame } from '@weft/core/protocol'
import type { WebSocketLike } from '../../src/websocket/index.js'
import { WorkspaceSocket } from '../../src/workspace/WorkspaceSocket.js'

/** A WebSocket whose buffer the test controls: `send` adds to `bufferedAmount`, `flush()` empties it. */
class FakeSocket implements WebSocketLike {
  static created: FakeSocket[] = []
  static onCreate: (() => void) | null = null
  binaryType = 'blob'
  readyState = 0
  bufferedAmount = 0
  readonly sent: Uint8Array[] = []
  onopen: ((ev: never) => void) | null = null
  onclose: ((ev: never) => void) | null = null
  onerror: ((ev: never) => void) | null = null
  onmessage: ((ev: never) => void) | null = null
  constructor(readonly url: string) {
    FakeSocket.created.push(this)
    FakeSocket.onCreate?.()
  }
  send(data: Uint8Array): void {
    this.sent.push(data)
    this.bufferedAmount += data.byteLength
  }
  close(): void {
    this.readyState = 3
  }
  open(): void {
    this.readyState = 1
    ;(this.onopen as ((ev: object) => void) | null)?.({})
  }
  /** What was sent, as `<doc>:<first message byte>` for DOC frames and the kind for others. */
  log(): string[] {
    return this.sent.map((bytes) => {
      const r = decodeWorkspaceFrame(bytes)
      if (!r.ok) throw new Error(r.reason)
      return r.frame.kind === 'doc' ? `${r.frame.doc}:${r.frame.message[0]}` : r.frame.kind
    })
  }
}

const connected = async (link: WorkspaceSocket): Promise<FakeSocket> => {
  const created = new Promise<void>((r) => (FakeSocket.onCreate = r))
  link.connect()
  await created
  const socket = FakeSocket.created.at(-1)!
  socket.open()
  return socket
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
  FakeSocket.created = []
})
afterEach(() => {
  vi.useRealTimers()
})

describe('WorkspaceSocket flow control', () => {
  const options = {
    url: 'ws://relay.test',
    workspace: 'w',
    WebSocketPolyfill: FakeSocket,
    onlineEvents: null,
    highWaterMark: 1000,
    drainIntervalMs: 10,
  }
  const chunk = (n: number) => new Uint8Array(400).fill(n)

  it('WS-CLIENT-LINK-6 a large document’s backlog never holds back another document’s edit', async () => {
    const link = new WorkspaceSocket(options)
    const socket = await connected(link)
    const big = link.transportFor('big')
    const small = link.transportFor('small')
    big.connect()
    small.connect()
    socket.sent.length = 0
    socket.bufferedAmount = 0
    for (let i = 0; i < 50; i++) big.send(chunk(i)) // a 20 kB catch-up: two chunks fill the buffer
    small.send(Uint8Array.of(200)) // an edit typed meanwhile
    expect(socket.log()).toEqual(['big:0', 'big:1', 'big:2'])
    expect(link.waitingFrames).toBe(48)
    socket.bufferedAmount = 0 // the network took what was buffered
    vi.advanceTimersByTime(10)
    // Served in turn: the edit goes out with the next frame of the large document, not after its 47 others.
    expect(socket.log().slice(3, 6)).toEqual(['big:3', 'small:200', 'big:4'])
    while (link.waitingFrames > 0) {
      socket.bufferedAmount = 0
      vi.advanceTimersByTime(10)
    }
    const bigOrder = socket.log().filter((l) => l.startsWith('big:'))
    expect(bigOrder).toEqual(Array.from({ length: 50 }, (_, i) => `big:${i}`)) // one document's order is kept
    await link.close()
  })

  it('WS-CLIENT-LINK-6 below the high-water mark frames go out at once; an unsubscribed document’s backlog is dropped', async () => {
    const link = new WorkspaceSocket(options)
    const socket = await connected(link)
    const a = link.transportFor('a')
    const b = link.transportFor('b')
    a.connect()
    b.connect()
    expect(socket.log()).toEqual(['catch-up', 'subscribe', 'subscribe'])
    socket.sent.length = 0
    socket.bufferedAmount = 0
    a.send(Uint8Array.of(1))
    expect(socket.log()).toEqual(['a:1'])
    socket.bufferedAmount = 5000
    a.send(Uint8Array.of(2))
    b.send(Uint8Array.of(3))
    a.disconnect() // the backlog of `a` belongs to a path that closes: dropped, then UNSUBSCRIBE in turn
    expect(link.waitingFrames).toBe(2)
    socket.bufferedAmount = 0
    vi.advanceTimersByTime(10)
    expect(socket.log()).toEqual(['a:1', 'b:3', 'unsubscribe'])
    await link.close()
  })
})

import { pino } from 'pino'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { CloseCode } from '@weft/core'
import { decodeWorkspaceFrame, encodeSubscribe, encodeUnsubscribe } from '@weft/core/protocol'
import { RoomGrant } from '../../src/auth/RoomGrant.js'
import type { RelaySocket } from '../../src/relay/RelaySocket.js'
import type { SharedMessage } from '../../src/relay/SharedMessage.js'
import {
  SUBSCRIBE_BURST,
  SUBSCRIBES_PER_SECOND,
  WorkspaceSession,
  type WorkspaceSocket,
} from '../../src/workspace/WorkspaceSession.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { WorkspaceTestClient } from './WorkspaceTestClient.js'

/** The workspace socket: keeps the REFUSED frames; never buffers. */
class FakeSocket implements WorkspaceSocket {
  open = true
  readonly bufferedAmount = 0
  readonly logger = pino({ level: 'silent' })
  readonly refused: Array<{ doc: string; code: number }> = []
  attach(): void {}
  send(message: Uint8Array | SharedMessage): boolean {
    const decoded = decodeWorkspaceFrame(
      message instanceof Uint8Array ? message : Buffer.concat(message.parts),
    )
    if (decoded.ok && decoded.frame.kind === 'refused') {
      this.refused.push({ doc: decoded.frame.doc, code: decoded.frame.code })
    }
    return this.open
  }
  close(): void {
    this.open = false
  }
  trackInput(): void {}
}

let srv: TestServer | null = null
const clients: WorkspaceTestClient[] = []

afterEach(async () => {
  vi.useRealTimers()
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await srv?.close()
  srv = null
})

describe('workspace endpoint: the rate of subscriptions (WS-RELAY-12)', () => {
  it('WS-RELAY-12: a socket joins SUBSCRIBE_BURST rooms at once, then SUBSCRIBES_PER_SECOND; past it SUBSCRIBE is refused RateLimited', () => {
    vi.useFakeTimers({ toFake: ['performance'] })
    const joined: string[] = []
    const socket = new FakeSocket()
    const session = new WorkspaceSession(
      socket,
      'team',
      { grant: new RoomGrant({ 'team/*': 'write' }), id: 1, clientAddress: '' },
      {
        join: (_socket: RelaySocket, room: string) => {
          joined.push(room)
          return null
        },
        regrant: () => undefined,
        catchUp: () => Promise.resolve(),
        left: () => undefined,
        maxSubscriptions: 1000,
        maxBufferedBytes: 1 << 20,
      },
      (fn) => setImmediate(fn),
    )
    const subscribe = (doc: string) => session.onMessage(Buffer.from(encodeSubscribe(doc)), true)
    // Churn: each document subscribed and left at once still loads its room, so each SUBSCRIBE counts.
    for (let i = 0; i <= SUBSCRIBE_BURST; i++) {
      subscribe(`d${i}`)
      session.onMessage(Buffer.from(encodeUnsubscribe(`d${i}`)), true)
    }
    expect(joined).toHaveLength(SUBSCRIBE_BURST)
    expect(socket.refused).toEqual([{ doc: `d${SUBSCRIBE_BURST}`, code: CloseCode.RateLimited }])
    // Refusals cost nothing: a second later, the rate's worth of rooms joins, and no more.
    for (let i = 0; i < 10; i++) subscribe(`late${i}`)
    vi.advanceTimersByTime(1000)
    for (let i = 0; i <= SUBSCRIBES_PER_SECOND; i++) subscribe(`e${i}`)
    expect(joined).toHaveLength(SUBSCRIBE_BURST + SUBSCRIBES_PER_SECOND)
    expect(socket.refused.at(-1)).toEqual({ doc: `e${SUBSCRIBES_PER_SECOND}`, code: CloseCode.RateLimited })
    // Per-document refusals: the socket stays open.
    expect(socket.open).toBe(true)
    session.onClose()
  })

  it('WS-RELAY-12: over a real socket, a burst of SUBSCRIBEs past SUBSCRIBE_BURST is refused RateLimited per document; the socket and its documents carry on', async () => {
    srv = await startTestServer()
    const ws = await WorkspaceTestClient.open(`${srv.ws}/workspace/team`)
    clients.push(ws)
    const count = 2 * SUBSCRIBE_BURST
    for (let i = 0; i < count; i++) ws.send(encodeSubscribe(`d${i}`))
    // Every document answers: its room's greeting (a DOC frame) or REFUSED.
    const answered = () => new Set(ws.frames.flatMap((r) => ('doc' in r.frame ? [r.frame.doc] : [])))
    await ws.until(() => answered().size === count)
    const refused = ws.frames.flatMap((r) => (r.frame.kind === 'refused' ? [r.frame] : []))
    expect(refused.length).toBeGreaterThan(0)
    for (const r of refused) {
      expect(r.code).toBe(CloseCode.RateLimited)
      // The first SUBSCRIBE_BURST were all admitted.
      expect(Number(r.doc.slice(1))).toBeGreaterThanOrEqual(SUBSCRIBE_BURST)
    }
    // A subscribed document still syncs on the same socket.
    ws.subscribe('d0')
    const doc = ws.docs.get('d0')!
    doc.getText('t').insert(0, 'still here')
    const reader = await WorkspaceTestClient.open(`${srv.ws}/workspace/team`)
    clients.push(reader)
    reader.subscribe('d0')
    await reader.text('d0', 'still here')
  })
})

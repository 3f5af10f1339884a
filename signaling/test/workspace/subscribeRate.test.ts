import { pino } from 'pino'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { decodeWorkspaceFrame, encodeDocFrame, encodeSubscribe, encodeUnsubscribe } from '@weft/core/protocol'
import { RoomGrant } from '../../src/auth/RoomGrant.js'
import type { RelaySocket } from '../../src/relay/RelaySocket.js'
import type { SharedMessage } from '../../src/relay/SharedMessage.js'
import { SUBSCRIBE_BURST, SUBSCRIBES_PER_SECOND } from '../../src/workspace/SubscribeQueue.js'
import { WorkspaceEndpoint } from '../../src/workspace/WorkspaceEndpoint.js'
import { WorkspaceSession, type WorkspaceSocket } from '../../src/workspace/WorkspaceSession.js'
import { MemoryDocStore } from '@weft/core/testing'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { WorkspaceTestClient } from './WorkspaceTestClient.js'

/** The workspace socket: keeps the REFUSED frames and the input it is charged; never buffers. */
class FakeSocket implements WorkspaceSocket {
  open = true
  readonly bufferedAmount = 0
  readonly logger = pino({ level: 'silent' })
  readonly refused: Array<{ doc: string; code: number }> = []
  input = 0
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
  trackInput(delta: number): void {
    this.input += delta
  }
}

let srv: TestServer | null = null
const clients: WorkspaceTestClient[] = []

afterEach(async () => {
  vi.useRealTimers()
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await srv?.close()
  srv = null
})

/** A session of workspace `team` (every document granted) whose rooms record who joined and what it got. */
const session = () => {
  const socket = new FakeSocket()
  const joined: string[] = []
  const got = new Map<string, string[]>()
  const s = new WorkspaceSession(
    socket,
    'team',
    { grant: new RoomGrant({ 'team/*': 'write' }), id: 1, clientAddress: '' },
    {
      join: (member: RelaySocket, room: string) => {
        joined.push(room.slice('team/'.length))
        member.attach({
          onMessage: (data) => void got.set(room, [...(got.get(room) ?? []), data.toString()]),
          onClose: () => undefined,
        })
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
  const send = (frame: Uint8Array) => s.onMessage(Buffer.from(frame), true)
  return { socket, joined, got, session: s, send }
}

describe('workspace endpoint: the rate of subscriptions (WS-RELAY-12)', () => {
  it('WS-RELAY-12: SUBSCRIBE_BURST documents join at once, the next ones wait their turn (SUBSCRIBES_PER_SECOND) with their messages; none is refused', () => {
    vi.useFakeTimers({ toFake: ['performance', 'setTimeout', 'clearTimeout'] })
    const { socket, joined, got, session: s, send } = session()
    for (let i = 0; i < SUBSCRIBE_BURST + 30; i++) send(encodeSubscribe(`d${i}`))
    expect(joined).toHaveLength(SUBSCRIBE_BURST)
    // A waiting document's messages wait with it (charged to the socket's input); an UNSUBSCRIBE takes it out.
    const late = `d${SUBSCRIBE_BURST + 1}`
    send(encodeDocFrame(late, new TextEncoder().encode('hello')))
    expect(socket.input).toBe(5)
    send(encodeUnsubscribe(`d${SUBSCRIBE_BURST + 2}`))
    // One second later: the rate's worth joined (one timer turn short at most), in order, the late one with its message.
    vi.advanceTimersByTime(1000)
    const order = Array.from({ length: 29 }, (_, i) => `d${SUBSCRIBE_BURST + i}`).filter(
      (d) => d !== `d${SUBSCRIBE_BURST + 2}`,
    )
    const next = joined.slice(SUBSCRIBE_BURST)
    expect(next).toEqual(order.slice(0, next.length))
    expect(next.length).toBeGreaterThanOrEqual(SUBSCRIBES_PER_SECOND - 1)
    expect(next.length).toBeLessThanOrEqual(SUBSCRIBES_PER_SECOND)
    expect(got.get(`team/${late}`)).toEqual(['hello'])
    expect(socket.input).toBe(0)
    vi.advanceTimersByTime(1000)
    expect(joined).toHaveLength(SUBSCRIBE_BURST + 29)
    expect(joined).not.toContain(`d${SUBSCRIBE_BURST + 2}`)
    expect(socket.refused).toEqual([])
    expect(socket.open).toBe(true)
    s.onClose()
  })

  it('WS-RELAY-12: SUBSCRIBE and UNSUBSCRIBE churn loads no more rooms than the rate allows', () => {
    vi.useFakeTimers({ toFake: ['performance', 'setTimeout', 'clearTimeout'] })
    const { joined, session: s, send } = session()
    // 10 rounds of 90 documents a second, each subscribed and left (the probe of issue 15's review, one socket).
    for (let round = 0; round < 10; round++) {
      for (let k = 0; k < 90; k++) send(encodeSubscribe(`r${round}-${k}`))
      for (let k = 0; k < 90; k++) send(encodeUnsubscribe(`r${round}-${k}`))
      vi.advanceTimersByTime(1000)
    }
    // Without the limit: 900 rooms loaded. With it: the burst, then what a second refills each round at most.
    expect(joined.length).toBeLessThanOrEqual(SUBSCRIBE_BURST + 10 * SUBSCRIBES_PER_SECOND)
    s.onClose()
  })

  it('WS-RELAY-12: the sockets of one address share one bucket (a socket opened again gets no new burst); loopback and other addresses have their own', async () => {
    vi.useFakeTimers({
      toFake: ['performance', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'],
    })
    const joined: string[] = []
    const endpoint = new WorkspaceEndpoint({
      store: new MemoryDocStore(),
      join: (_socket, room) => {
        joined.push(room)
        return null
      },
      regrant: () => undefined,
      maxSubscriptions: 1000,
      maxBufferedBytes: 1 << 20,
      logger: pino({ level: 'silent' }),
    })
    const grant = new RoomGrant({ 'team/*': 'write' })
    const open = (clientAddress: string) => {
      const socket = new FakeSocket()
      const s = endpoint.accept(socket, 'team', { grant, id: 1, clientAddress }, (fn) => setImmediate(fn))
      return { socket, s, subscribe: (doc: string) => s.onMessage(Buffer.from(encodeSubscribe(doc)), true) }
    }
    const a = open('203.0.113.7')
    for (let i = 0; i < SUBSCRIBE_BURST; i++) a.subscribe(`a${i}`)
    expect(joined).toHaveLength(SUBSCRIBE_BURST)
    // Another socket of the same address waits; one of another address, or of loopback, joins at once.
    const b = open('203.0.113.7')
    b.subscribe('b')
    open('198.51.100.1').subscribe('c')
    open('127.0.0.1').subscribe('d')
    expect(joined.slice(SUBSCRIBE_BURST)).toEqual(['team/c', 'team/d'])
    // Closing both and opening again gives no new burst.
    a.s.onClose()
    b.s.onClose()
    open('203.0.113.7').subscribe('e')
    expect(joined).not.toContain('team/e')
    vi.advanceTimersByTime(1000)
    expect(joined).toContain('team/e')
    expect(joined).not.toContain('team/b')
    await endpoint.close()
  })

  it('WS-RELAY-12: over a real socket, SUBSCRIBEs past SUBSCRIBE_BURST are served later, none refused; each syncs', async () => {
    srv = await startTestServer()
    const ws = await WorkspaceTestClient.open(`${srv.ws}/workspace/team`)
    clients.push(ws)
    const count = SUBSCRIBE_BURST + 5
    for (let i = 0; i < count; i++) ws.subscribe(`d${i}`)
    // Each document's step 1 waited with it: every one gets the relay's step 2.
    await Promise.all(Array.from({ length: count }, (_, i) => ws.synced(`d${i}`)))
    expect(ws.frames.filter((r) => r.frame.kind === 'refused')).toEqual([])
    // The last one syncs both ways.
    const last = `d${count - 1}`
    ws.docs.get(last)!.getText('t').insert(0, 'still here')
    const reader = await WorkspaceTestClient.open(`${srv.ws}/workspace/team`)
    clients.push(reader)
    reader.subscribe(last)
    await reader.text(last, 'still here')
  })
})

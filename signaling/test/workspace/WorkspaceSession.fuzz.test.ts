import fc from 'fast-check'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { CloseCode } from '@weft/core'
import {
  encodeCatchUp,
  encodeDocFrame,
  encodeSubscribe,
  encodeUnsubscribe,
  encodeSyncStep1,
} from '@weft/core/protocol'
import { RoomGrant } from '../../src/auth/RoomGrant.js'
import type { RelaySocket, RelaySocketHandler } from '../../src/relay/RelaySocket.js'
import type { SharedMessage } from '../../src/relay/SharedMessage.js'
import { WorkspaceSession, type WorkspaceSocket } from '../../src/workspace/WorkspaceSession.js'

/** The workspace socket: records closes and what was sent; never buffers. */
class FakeSocket implements WorkspaceSocket {
  open = true
  bufferedAmount = 0
  readonly logger = pino({ level: 'silent' })
  closedWith: number | null = null
  sent = 0
  attach(): void {}
  send(_message: Uint8Array | SharedMessage): boolean {
    this.sent++
    return this.open
  }
  close(code: number): void {
    if (!this.open) return
    this.open = false
    this.closedWith = code
  }
  trackInput(): void {}
}

/** A room member that throws on some messages, as a buggy room would: the session must contain it. */
const joinedRooms: string[] = []
const host = {
  join: (socket: RelaySocket, room: string) => {
    joinedRooms.push(room)
    const handler: RelaySocketHandler = {
      onMessage: (data) => {
        if (data[0] === 0xee) throw new Error('room failure')
        if (data[0] === 0xef) return Promise.reject(new Error('async room failure'))
        socket.send(data)
        return undefined
      },
      onClose: () => undefined,
    }
    socket.attach(handler)
    return null
  },
  regrant: () => undefined,
  catchUp: () => Promise.resolve(),
  left: () => undefined,
  maxSubscriptions: 4,
  maxBufferedBytes: 1 << 20,
}

const frame = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  fc.constantFrom('a', 'b', 'c', '', '.catalogue', 'x~y').map((d) => encodeSubscribe(d)),
  fc.constantFrom('a', 'b', 'zz').map((d) => encodeUnsubscribe(d)),
  fc
    .tuple(fc.constantFrom('a', 'b', 'zz'), fc.uint8Array({ minLength: 1, maxLength: 20 }))
    .map(([d, m]) => encodeDocFrame(d, m)),
  fc.constantFrom('a', 'b').map((d) => encodeDocFrame(d, encodeSyncStep1(new Uint8Array([0])))),
  fc.tuple(fc.nat(), fc.nat()).map(([c, p]) => encodeCatchUp(c, p)),
)

describe('WorkspaceSession under hostile input', () => {
  it('WS-RELAY-8: any sequence of frames never throws; the socket is either open or closed with a named code', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(frame, fc.boolean()), { maxLength: 30 }), (frames) => {
        const socket = new FakeSocket()
        const grant = new RoomGrant({ 'team/a': 'write', 'team/b': 'read', 'team/.catalogue': 'write' })
        const session = new WorkspaceSession(
          socket,
          'team',
          { grant, id: 1, clientAddress: '' },
          host,
          (fn) => setImmediate(fn),
        )
        for (const [bytes, binary] of frames) {
          if (!socket.open) break
          expect(() => session.onMessage(Buffer.from(bytes), binary)).not.toThrow()
        }
        session.onClose()
        expect([null, CloseCode.MalformedMessage]).toContain(socket.closedWith)
        expect(session.subscriptions).toBe(0)
      }),
      { numRuns: 1000 },
    )
    // Only granted, valid documents ever reached a room (a read grant included, an unknown or invalid one never).
    expect(joinedRooms.every((r) => ['team/a', 'team/b', 'team/.catalogue'].includes(r))).toBe(true)
  })
})

/** WS-RELAY-12: the pace of workspace SUBSCRIBEs is a relay option (`workspaceSubscribes`) and `weft serve` flags. */
import { pino } from 'pino'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { encodeSubscribe } from '@weft/core/protocol'
import { MemoryDocStore } from '@weft/core/testing'
import { RoomGrant } from '../../src/auth/RoomGrant.js'
import { parseServeArgs } from '../../src/cli/parseServeArgs.js'
import { createWeftServer } from '../../src/index.js'
import type { SharedMessage } from '../../src/relay/SharedMessage.js'
import type { SubscribeRate } from '../../src/workspace/SubscribeQueue.js'
import { WorkspaceEndpoint } from '../../src/workspace/WorkspaceEndpoint.js'
import type { WorkspaceSocket } from '../../src/workspace/WorkspaceSession.js'

/** A workspace socket that never buffers and keeps nothing. */
class QuietSocket implements WorkspaceSocket {
  open = true
  readonly bufferedAmount = 0
  readonly logger = pino({ level: 'silent' })
  attach(): void {}
  send(_message: Uint8Array | SharedMessage): boolean {
    return this.open
  }
  close(): void {
    this.open = false
  }
  trackInput(): void {}
}

afterEach(() => {
  vi.useRealTimers()
})

/** An endpoint of workspace `team` with `rate`, and the rooms its sockets joined. */
const endpointWith = (rate: SubscribeRate | undefined) => {
  const joined: string[] = []
  const endpoint = new WorkspaceEndpoint({
    store: new MemoryDocStore(),
    join: (_socket, room) => {
      joined.push(room)
      return null
    },
    regrant: () => undefined,
    maxSubscriptions: 10_000,
    maxBufferedBytes: 1 << 20,
    subscribeRate: rate,
    logger: pino({ level: 'silent' }),
  })
  const grant = new RoomGrant({ 'team/*': 'write' })
  const open = (clientAddress: string) => {
    const s = endpoint.accept(new QuietSocket(), 'team', { grant, id: 1, clientAddress }, (fn) =>
      setImmediate(fn),
    )
    return (doc: string) => s.onMessage(Buffer.from(encodeSubscribe(doc)), true)
  }
  return { endpoint, joined, open }
}

describe('the pace of workspace SUBSCRIBEs is configurable (WS-RELAY-12)', () => {
  it('WS-RELAY-12: a socket (loopback: its own bucket) joins `burst` documents at once, then `perSecond`', async () => {
    vi.useFakeTimers({ toFake: ['performance', 'setTimeout', 'clearTimeout'] })
    const { endpoint, joined, open } = endpointWith({ burst: 500, perSecond: 100 })
    const subscribe = open('127.0.0.1')
    for (let i = 0; i < 700; i++) subscribe(`d${i}`)
    expect(joined).toHaveLength(500) // the default burst would have been 200
    vi.advanceTimersByTime(1000)
    // A second's worth at 100/s (one timer turn short at most; the default rate would have been 20).
    expect(joined.length - 500).toBeGreaterThanOrEqual(99)
    expect(joined.length - 500).toBeLessThanOrEqual(100)
    expect(joined).toEqual(Array.from({ length: joined.length }, (_, i) => `team/d${i}`))
    await endpoint.close()
  })

  it('WS-RELAY-12: the bucket shared by the sockets of one address has the configured burst and rate', async () => {
    vi.useFakeTimers({
      toFake: ['performance', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'],
    })
    const { endpoint, joined, open } = endpointWith({ burst: 3, perSecond: 1 })
    const a = open('203.0.113.7')
    const b = open('203.0.113.7')
    for (let i = 0; i < 2; i++) a(`a${i}`)
    for (let i = 0; i < 3; i++) b(`b${i}`)
    expect(joined).toEqual(['team/a0', 'team/a1', 'team/b0'])
    vi.advanceTimersByTime(1100)
    expect(joined).toEqual(['team/a0', 'team/a1', 'team/b0', 'team/b1'])
    await endpoint.close()
  })

  it('WS-RELAY-12: without the option, the defaults (burst 200, then 20/s)', async () => {
    // The clock stands still: on a loaded machine the loop took over 50 ms and the bucket refilled one token.
    vi.useFakeTimers({ toFake: ['performance', 'setTimeout', 'clearTimeout'] })
    const { endpoint, joined, open } = endpointWith(undefined)
    const subscribe = open('127.0.0.1')
    for (let i = 0; i < 201; i++) subscribe(`d${i}`)
    expect(joined).toHaveLength(200)
    await endpoint.close()
  })

  it('WS-RELAY-12: a burst below 1 or a rate of 0 is refused (invalid-argument)', () => {
    for (const workspaceSubscribes of [
      { burst: 0 },
      { burst: 1.5 },
      { perSecond: 0 },
      { perSecond: Number.NaN },
    ])
      expect(() =>
        createWeftServer({
          port: 0,
          logger: pino({ level: 'silent' }),
          relay: { store: new MemoryDocStore(), workspaceSubscribes },
        }),
      ).toThrow(/workspaceSubscribes/)
  })

  it('CLI-2 WS-RELAY-12: --subscribe-burst and --subscribes-per-second (WEFT_SUBSCRIBE_BURST, WEFT_SUBSCRIBES_PER_SECOND)', () => {
    const flags = parseServeArgs(['--subscribe-burst', '5000', '--subscribes-per-second', '500'], {})
    expect(flags.ok && !flags.help && flags.config).toMatchObject({
      subscribeBurst: 5000,
      subscribesPerSecond: 500,
    })
    const env = parseServeArgs([], { WEFT_SUBSCRIBE_BURST: '300', WEFT_SUBSCRIBES_PER_SECOND: '50' })
    expect(env.ok && !env.help && env.config).toMatchObject({ subscribeBurst: 300, subscribesPerSecond: 50 })
    const none = parseServeArgs([], {})
    expect(none.ok && !none.help && none.config).toMatchObject({
      subscribeBurst: null,
      subscribesPerSecond: null,
    })
    expect(parseServeArgs(['--subscribe-burst', '0'], {}).ok).toBe(false)
    expect(parseServeArgs(['--subscribes-per-second', 'x'], {}).ok).toBe(false)
  })
})

import { PassThrough } from 'node:stream'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { pino } from 'pino'
import { AuthorizedSocket } from '../../src/auth/AuthorizedSocket.js'
import { RoomGrant } from '../../src/auth/RoomGrant.js'
import { guardedSocketContext } from '../../src/connection/GuardedSocket.js'
import { InputBudget } from '../../src/connection/InputBudget.js'
import { ServerMetrics } from '../../src/metrics/ServerMetrics.js'
import { DEFAULT_LIMITS } from '../../src/ServerLimits.js'

const DAY_MS = 86_400_000

const socketWith = (grant: RoomGrant): AuthorizedSocket => {
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
  return new AuthorizedSocket(new PassThrough(), Buffer.alloc(0), '', 1, ctx, grant, '203.0.113.9')
}

afterEach(() => {
  vi.useRealTimers()
})

describe('AuthorizedSocket (AUTH-6)', () => {
  it('AUTH-6: a token valid for 30 days is not closed when the longest timer (24.8 days) fires, but at its exp', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'Date'] })
    const conn = socketWith(new RoomGrant({ room: 'write' }, Date.now() + 30 * DAY_MS))
    vi.advanceTimersByTime(2 ** 31)
    expect(conn.open).toBe(true)
    expect(conn.expired()).toBe(false)
    vi.advanceTimersByTime(30 * DAY_MS - 2 ** 31 - 1)
    expect(conn.open).toBe(true)
    vi.advanceTimersByTime(1)
    expect(conn.open).toBe(false)
    conn.terminate()
  })

  it('AUTH-6: a grant without exp (open mode) never expires', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'Date'] })
    const conn = socketWith(RoomGrant.open())
    vi.advanceTimersByTime(100 * DAY_MS)
    expect(conn.open).toBe(true)
    expect(conn.expired()).toBe(false)
    conn.terminate()
  })
})

import { pino } from 'pino'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { StoredContext } from '../../../src/hooks.js'
import { RelayHooks } from '../../../src/relay/RelayHooks.js'
import { ServerMetrics } from '../../../src/metrics/ServerMetrics.js'

const refused = () => Promise.resolve()

/** A logger that keeps its lines' messages (from `level` up). */
const recording = (level = 'error') => {
  const lines: string[] = []
  const logger = pino(
    { level },
    { write: (line: string) => void lines.push((JSON.parse(line) as { msg: string }).msg) },
  )
  return { logger, lines }
}

describe('onStored calls (HOOK-5, HOOK-5.1)', () => {
  it('HOOK-5.1: a synchronous onStored is called at once, in the commit turn, for every commit', () => {
    const calls: StoredContext[] = []
    const hooks = new RelayHooks(
      { onStored: (ctx) => void calls.push(ctx) },
      pino({ level: 'silent' }),
      refused,
    )
    hooks.stored('a', 1)
    expect(calls).toEqual([{ room: 'a', clock: 1 }])
    hooks.stored('a', 2)
    hooks.stored('b', 1)
    expect(calls).toEqual([
      { room: 'a', clock: 1 },
      { room: 'a', clock: 2 },
      { room: 'b', clock: 1 },
    ])
  })

  it("HOOK-5 HOOK-5.1: while a room's call runs, its next waits for it (in commit order); other rooms are called at once", async () => {
    const calls: string[] = []
    let release!: () => void
    const first = new Promise<void>((resolve) => (release = resolve))
    const hooks = new RelayHooks(
      {
        onStored: ({ room, clock }) => {
          calls.push(`${room}${clock}`)
          return room === 'a' && clock === 1 ? first : undefined
        },
      },
      pino({ level: 'silent' }),
      refused,
    )
    hooks.stored('a', 1)
    hooks.stored('a', 2)
    hooks.stored('b', 1)
    expect(calls).toEqual(['a1', 'b1'])
    release()
    await hooks.settled()
    expect(calls).toEqual(['a1', 'b1', 'a2'])
    // Nothing of room a runs any more: called at once again.
    hooks.stored('a', 3)
    expect(calls.at(-1)).toBe('a3')
  })

  it('HOOK-5: a synchronous throw is logged once per call and does not stop the next call', async () => {
    const { logger, lines } = recording()
    let calls = 0
    const hooks = new RelayHooks(
      {
        onStored: () => {
          calls++
          throw new Error('webhook down')
        },
      },
      logger,
      refused,
    )
    hooks.stored('a', 1)
    hooks.stored('a', 2)
    await hooks.settled()
    expect(calls).toBe(2)
    expect(lines).toEqual(['onStored hook failed', 'onStored hook failed'])
  })
})

/** A registry of its own, to read the hook counters. */
const metrics = () =>
  new ServerMetrics({ connections: () => [], topics: () => 0, docsLoaded: () => 0, relayRooms: () => 0 })

describe('onStored bounds (HOOK-5.2, HOOK-5.3)', () => {
  afterEach(() => void vi.useRealTimers())

  it("HOOK-5.2: a call that never settles is given up after hookTimeoutMs (a warning, counted); the room's next call is made; settled() resolves", async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const { logger, lines } = recording('warn')
    const m = metrics()
    const calls: number[] = []
    const hooks = new RelayHooks(
      {
        // R2: a webhook without a timeout, hanging on the room's first call.
        onStored: ({ clock }) => {
          calls.push(clock)
          return clock === 1 ? new Promise<void>(() => undefined) : Promise.resolve()
        },
      },
      logger,
      refused,
      { timeoutMs: 1_000, metrics: m },
    )
    hooks.stored('a', 1)
    hooks.stored('a', 2)
    const settled = hooks.settled()
    await vi.advanceTimersByTimeAsync(999)
    expect(calls).toEqual([1])
    await vi.advanceTimersByTimeAsync(1)
    expect(calls).toEqual([1, 2])
    await settled
    expect(lines).toEqual(['onStored hook timed out'])
    expect(m.get('weft_hook_timeouts_total', { hook: 'onStored' })).toBe(1)
    // The room is free again: the next commit's call is made at once.
    hooks.stored('a', 3)
    expect(calls).toEqual([1, 2, 3])
  })

  it('HOOK-5.3: commits made while a call runs wait as one call with the last clock (logged, counted), however many', async () => {
    const { logger, lines } = recording('warn')
    const m = metrics()
    const calls: number[] = []
    let release!: () => void
    const first = new Promise<void>((resolve) => (release = resolve))
    const hooks = new RelayHooks(
      {
        onStored: ({ clock }) => {
          calls.push(clock)
          return clock === 1 ? first : undefined
        },
      },
      logger,
      refused,
      { metrics: m },
    )
    hooks.stored('a', 1)
    for (let clock = 2; clock <= 100; clock++) hooks.stored('a', clock)
    hooks.stored('b', 7)
    expect(calls).toEqual([1, 7])
    release()
    await hooks.settled()
    expect(calls).toEqual([1, 7, 100])
    expect(lines).toEqual(['onStored calls coalesced'])
    expect(m.get('weft_hook_calls_coalesced_total', { hook: 'onStored' })).toBe(98)
  })
})

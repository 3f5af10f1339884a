import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import type { StoredContext } from '../../../src/hooks.js'
import { RelayHooks } from '../../../src/relay/RelayHooks.js'

const refused = () => Promise.resolve()

/** A logger that keeps its lines' messages. */
const recording = () => {
  const lines: string[] = []
  const logger = pino(
    { level: 'error' },
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

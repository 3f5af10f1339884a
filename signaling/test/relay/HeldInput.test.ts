/** HOOK-3.4, HOOK-3.6, RULES-4.9: one HeldInput per connection holds its waiting updates, whatever they wait for. */
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { CloseCode } from '@weft/core'
import { HeldInput, type ClosableSocket } from '../../src/relay/HeldInput.js'

/** A socket that records its charges and its close. */
const fakeSocket = () => {
  const socket = {
    open: true,
    charged: 0,
    closes: [] as Array<{ code: number; reason: string }>,
    close(code: number, reason: string) {
      socket.open = false
      socket.closes.push({ code, reason })
    },
    trackInput(delta: number) {
      socket.charged += delta
    },
  }
  return socket satisfies ClosableSocket
}

const quiet = pino({ level: 'silent' })

describe('HeldInput', () => {
  it('HOOK-3.6: held bytes are charged until released; the bytes behind the oldest are bounded, one always may wait', () => {
    const socket = fakeSocket()
    const input = new HeldInput(socket, 100, quiet)
    const first = input.hold(500, 'the onUpdate hook', () => undefined) // the oldest: however large
    const second = input.hold(100, 'a rules rebuild', () => undefined) // one more: however large
    expect(first && second).toBeTruthy()
    expect(socket.charged).toBe(600)
    expect(first?.release()).toBe(true)
    expect(socket.charged).toBe(100)
    // `second` is the oldest now: one more of 100 still fits behind it.
    const third = input.hold(100, 'a rules rebuild', () => undefined)
    expect(third).not.toBeNull()
    expect(socket.closes).toEqual([])
    // Behind the oldest: 100 held, 1 more passes the bound of 100, whichever wait it is for.
    expect(input.hold(1, 'the onUpdate hook', () => undefined)).toBeNull()
    expect(socket.closes).toEqual([
      { code: CloseCode.RateLimited, reason: 'too many updates waiting for the onUpdate hook' },
    ])
    expect(socket.charged).toBe(0)
  })

  it('HOOK-3.4: once closed, everything held is dropped at once (each told), nothing more is held', () => {
    const socket = fakeSocket()
    const input = new HeldInput(socket, 1_000, quiet)
    const dropped: string[] = []
    const hook = input.hold(10, 'the onUpdate hook', () => dropped.push('hook'))
    const rebuild = input.hold(20, 'a rules rebuild', () => dropped.push('rebuild'))
    let closed = 0
    input.onClose(() => closed++)
    input.close(CloseCode.UpdateRefused, 'refused')
    expect(dropped).toEqual(['hook', 'rebuild'])
    expect(closed).toBe(1)
    expect(socket.charged).toBe(0)
    expect(hook?.dropped).toBe(true)
    // A verdict or a rebuild that comes later finds it dropped: it does not go on.
    expect(hook?.release()).toBe(false)
    expect(rebuild?.release()).toBe(false)
    expect(input.hold(1, 'a rules rebuild', () => undefined)).toBeNull()
    expect(socket.charged).toBe(0)
    input.drop()
    expect(dropped).toHaveLength(2)
  })

  it('HOOK-3.4: a socket that closed on its own is noticed at the next hold: what was held is dropped', () => {
    const socket = fakeSocket()
    const input = new HeldInput(socket, 1_000, quiet)
    const dropped: number[] = []
    input.hold(10, 'a rules rebuild', () => dropped.push(10))
    socket.open = false
    expect(input.closed).toBe(true)
    expect(input.hold(5, 'a rules rebuild', () => dropped.push(5))).toBeNull()
    expect(dropped).toEqual([10])
    expect(socket.charged).toBe(0)
  })
})

import { afterEach, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { CloseCode } from '@weft/core'
import { encodeAwareness, encodeSyncStep1, readAwarenessEntries } from '@weft/core/protocol'
import { DEFAULT_LIMITS } from '../../src/ServerLimits.js'
import { parseServeArgs } from '../../src/cli/parseServeArgs.js'
import { heartbeatIntervalOf, heartbeatSweeps } from '../../src/connection/GuardedSocket.js'
import { encodeAwarenessEntries } from '../../src/relay/AwarenessTable.js'
import { PresenceTicker } from '../../src/relay/PresenceTicker.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { TestClient } from '../helpers/TestClient.js'
import { WeftTestClient } from '../helpers/WeftTestClient.js'

let srv: TestServer | null = null
const closers: Array<() => Promise<unknown>> = []

afterEach(async () => {
  vi.restoreAllMocks()
  await Promise.all(closers.splice(0).map((close) => close()))
  await srv?.close()
  srv = null
})

describe('heartbeat removes the presence of a vanished client (RELAY-6.6, CONN-3)', () => {
  it('RELAY-6.6: a client that stops answering pings has its presence removed for the others within heartbeatTimeoutMs', async () => {
    const timeoutMs = 400
    // Only the timeout is set: the heartbeat's interval follows from it.
    srv = await startTestServer({ limits: { heartbeatTimeoutMs: timeoutMs } })
    const observer = await WeftTestClient.open(`${srv.ws}/relay/lid`)
    closers.push(() => observer.client.close())
    await observer.next('sync-step2')
    // The vanishing client: answers no pings (as a peer whose network is gone, with no FIN).
    const gone = await TestClient.open(`${srv.ws}/relay/lid`, undefined, { autoPong: false })
    closers.push(() => gone.close())
    gone.send(encodeSyncStep1(Y.encodeStateVector(new Y.Doc())))
    gone.send(encodeAwareness(encodeAwarenessEntries([[42, 1, '{"name":"lid closed"}']])))
    const lastSent = performance.now()
    const seen = await observer.next('awareness')
    expect(readAwarenessEntries(seen.update).map((e) => [e.clientID, e.state])).toEqual([
      [42, { name: 'lid closed' }],
    ])
    // From now on it sends nothing and answers no ping.
    const removal = await observer.next('awareness')
    const elapsed = performance.now() - lastSent
    expect(readAwarenessEntries(removal.update).map((e) => [e.clientID, e.state])).toEqual([[42, null]])
    // Cut less than heartbeatTimeoutMs after the last thing it sent (slack for a loaded machine's timers).
    expect(elapsed).toBeLessThan(timeoutMs + 300)
    expect([CloseCode.HeartbeatTimeout, 1006]).toContain((await gone.closed).code)
    // The observer answers pings (ws does) and stays.
    expect(observer.client.ws.readyState).toBe(WebSocket.OPEN)
    expect(srv.server.metrics.closes.get({ code: 'HeartbeatTimeout' })).toBe(1)
  }, 10_000)

  it('CONN-3: by default a dead connection is cut within 5 s, and only silent connections are pinged', () => {
    expect(DEFAULT_LIMITS.heartbeatTimeoutMs).toBe(5000)
    expect(heartbeatIntervalOf(DEFAULT_LIMITS)).toBe(1000)
    const { sweepMs, dropAfter, pingAt } = heartbeatSweeps(DEFAULT_LIMITS)
    // CONN-3.1: two sweeps per interval.
    expect(sweepMs).toBe(500)
    // The last activity falls within the sweep before the first silent one: cut before (dropAfter + 1) sweeps.
    expect((dropAfter + 1) * sweepMs).toBeLessThanOrEqual(DEFAULT_LIMITS.heartbeatTimeoutMs)
    // Pinged once it has been silent for more than 1.5 s (a connection sending once a second never is), with 3 s
    // left for its pong.
    expect(pingAt * sweepMs).toBe(1500)
    expect((dropAfter - pingAt) * sweepMs).toBe(3000)
    // A short timeout shortens the sweep interval so that it is still met.
    const short = { ...DEFAULT_LIMITS, heartbeatTimeoutMs: 400 }
    const shortSweeps = heartbeatSweeps(short)
    expect((shortSweeps.dropAfter + 1) * shortSweeps.sweepMs).toBeLessThanOrEqual(400)
  })

  it("CONN-3.1: the heartbeat sweeps run on the same ticks as the rooms' presence windows (RELAY-6.8), every 500 ms", async () => {
    const calls: Array<{ ticker: PresenceTicker; periodMs: number }> = []
    const schedule = PresenceTicker.prototype.schedule
    vi.spyOn(PresenceTicker.prototype, 'schedule').mockImplementation(function (
      this: PresenceTicker,
      periodMs: number,
      minDelayMs: number,
      fn: () => void,
    ) {
      calls.push({ ticker: this, periodMs })
      return schedule.call(this, periodMs, minDelayMs, fn)
    })
    srv = await startTestServer()
    const sweeps = calls.filter((c) => c.periodMs === heartbeatSweeps(DEFAULT_LIMITS).sweepMs)
    expect(sweeps).toHaveLength(1)
    // A presence change in a quiet room is sent at once and opens a window, which ends on the same ticker.
    const a = await WeftTestClient.open(`${srv.ws}/relay/ticks`)
    closers.push(() => a.client.close())
    await a.next('sync-step2')
    const b = await WeftTestClient.open(`${srv.ws}/relay/ticks`)
    closers.push(() => b.client.close())
    await b.next('sync-step2')
    a.client.send(encodeAwareness(encodeAwarenessEntries([[7, 1, '{"x":1}']])))
    await b.next('awareness')
    const windows = calls.filter((c) => c.periodMs !== heartbeatSweeps(DEFAULT_LIMITS).sweepMs)
    expect(windows.length).toBeGreaterThan(0)
    for (const w of windows) expect(w.ticker).toBe(sweeps[0]?.ticker)
  })

  it('CONN-3: --heartbeat-timeout-ms and WEFT_HEARTBEAT_TIMEOUT_MS set the timeout', () => {
    const flag = parseServeArgs(['--heartbeat-timeout-ms', '2500'], {})
    expect(flag.ok && !flag.help && flag.config.heartbeatTimeoutMs).toBe(2500)
    const env = parseServeArgs([], { WEFT_HEARTBEAT_TIMEOUT_MS: '8000' })
    expect(env.ok && !env.help && env.config.heartbeatTimeoutMs).toBe(8000)
    expect(parseServeArgs(['--heartbeat-timeout-ms', '5'], {}).ok).toBe(false)
  })
})

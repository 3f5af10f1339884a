import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { captureLogger } from '../helpers/captureLogger.js'
import { RedisRoomBus } from '../../src/scaleout/RedisRoomBus.js'
import { startRedis, type RedisService } from './startServices.js'

let redis: RedisService
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  await redis.stop()
})

const WARN = 40

describe('RedisRoomBus while Redis is down', { timeout: 30_000 }, () => {
  it('SCALE-2.6 one warn line per outage, however many retries; one line when it is back', async () => {
    const { logger, lines, line } = captureLogger()
    let retries = 0
    let retried: (() => void) | null = null
    const bus = new RedisRoomBus({
      url: redis.url,
      nodeId: 'n1',
      logger,
      handlers: { message: () => {}, resync: () => {}, nodeDown: () => {} },
      retryDelay: () => {
        retries++
        if (retries >= 40) retried?.()
        return 5
      },
    })
    try {
      await bus.start()
      await line((l) => l['msg'] === 'redis bus subscribed')
      const before = lines.length
      const manyRetries = new Promise<void>((r) => (retried = r))
      await redis.kill()
      await manyRetries // ~20 reconnect attempts per connection, 5 ms apart
      const warns = lines.slice(before).filter((l) => (l['level'] as number) >= WARN)
      expect(warns.map((l) => l['msg'])).toEqual([
        'redis unreachable: retrying quietly until it is back (rooms catch up from the store)',
      ])
      expect(bus.connected).toBe(false)

      await redis.restart()
      const back = await line((l) => l['msg'] === 'redis reachable again', before)
      expect(back['level']).toBe(30)
      expect(lines.slice(before).filter((l) => (l['level'] as number) >= WARN)).toHaveLength(1)
      expect(back['downMs']).toBeTypeOf('number')
      expect(back['retries']).toBeGreaterThanOrEqual(20)

      // A second outage is reported again.
      const second = lines.length
      retries = 0
      const again = new Promise<void>((r) => (retried = r))
      await redis.kill()
      await again
      expect(lines.slice(second).filter((l) => (l['level'] as number) >= WARN)).toHaveLength(1)
      await redis.restart()
      await line((l) => l['msg'] === 'redis reachable again', second)
    } finally {
      await bus.close()
    }
  })
})

describe('RedisRoomBus with a hung Redis', { timeout: 30_000 }, () => {
  it('SCALE-2.8: a Redis that stops answering (SIGSTOP, no reset) is an outage within two PING intervals; the bus resubscribes and resyncs when it answers again', async () => {
    const { logger, lines, line } = captureLogger()
    let resyncs = 0
    let unreachable = 0
    const bus = new RedisRoomBus({
      url: redis.url,
      nodeId: 'hung',
      logger,
      livenessMs: 200,
      handlers: {
        message: () => {},
        resync: () => resyncs++,
        nodeDown: () => {},
        unreachable: () => unreachable++,
      },
    })
    try {
      await bus.start()
      await line((l) => l['msg'] === 'redis bus subscribed')
      expect(bus.connected).toBe(true)
      const before = lines.length
      const stoppedAt = performance.now()
      redis.pause()
      const warn = await line((l) => (l['level'] as number) >= WARN, before)
      // R3: with no liveness check the bus never noticed (12.5 s stopped, no warning).
      expect(performance.now() - stoppedAt).toBeLessThan(2000)
      expect(warn['reason']).toBe('no reply to PING within 200 ms')
      expect(bus.connected).toBe(false)
      expect(unreachable).toBe(1)
      redis.resume()
      await line((l) => l['msg'] === 'redis reachable again', before)
      await line((l) => l['msg'] === 'redis bus subscribed' && l['reconnect'] === true, before)
      expect(bus.connected).toBe(true)
      expect(resyncs).toBe(1)
    } finally {
      redis.resume()
      await bus.close()
    }
  })
})

import { tmpdir } from 'node:os'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { captureLogger } from '../helpers/captureLogger.js'
import { createWeftServer, type WeftServer } from '../../src/createWeftServer.js'
import { startPostgres, startRedis, type PostgresService, type RedisService } from './startServices.js'

// HTTP-1.1, HTTP-1.2: /healthz and /readyz of a scale-out node tell whether PostgreSQL and Redis answer.

let redis: RedisService
let postgres: PostgresService | null = null
beforeAll(async () => {
  redis = await startRedis()
  postgres = await startPostgres()
}, 40_000)
afterAll(async () => {
  await redis?.stop()
  await postgres?.stop()
})

it('HTTP-1.1, HTTP-1.2: a node reports its store and bus; /readyz is 503 and /healthz 200 "degraded" while Redis or PostgreSQL is away', async () => {
  const { logger, lines, line } = captureLogger()
  const server: WeftServer = createWeftServer({
    port: 0,
    logger,
    // dataDir is not used in scale-out mode (the relay needs one of store, dataDir).
    relay: { dataDir: tmpdir(), scaleOut: { redisUrl: redis.url, postgresUrl: postgres?.url ?? '' } },
  })
  const { port } = await server.listen()
  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`)
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  }
  try {
    await line((l) => l['msg'] === 'redis bus subscribed')
    expect(await get('/readyz')).toEqual({ status: 200, body: { status: 'ready', store: 'ok', bus: 'ok' } })
    expect((await get('/healthz')).body).toMatchObject({ status: 'ok', store: 'ok', bus: 'ok' })

    const before = lines.length
    await redis.kill()
    await line(
      (l) =>
        l['msg'] === 'redis unreachable: retrying quietly until it is back (rooms catch up from the store)',
      before,
    )
    expect(await get('/readyz')).toEqual({
      status: 503,
      body: { status: 'not-ready', store: 'ok', bus: 'unavailable' },
    })
    expect(await get('/healthz')).toMatchObject({
      status: 200,
      body: { status: 'degraded', bus: 'unavailable' },
    })
    await redis.restart()
    await line((l) => l['msg'] === 'redis reachable again', before)
    expect((await get('/readyz')).status).toBe(200)

    await postgres?.stop()
    postgres = null
    expect(await get('/readyz')).toEqual({
      status: 503,
      body: { status: 'not-ready', store: 'unavailable', bus: 'ok' },
    })
    expect(await get('/healthz')).toMatchObject({
      status: 200,
      body: { status: 'degraded', store: 'unavailable', bus: 'ok' },
    })
  } finally {
    await server.close()
  }
}, 40_000)

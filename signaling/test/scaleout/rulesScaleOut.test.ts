import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { CloseCode } from '@weft/core'
import { listening, spawnWeft, type WeftProcess } from '../helpers/spawnWeft.js'
import { stockClient, type StockClient } from '../helpers/stockClient.js'
import { startPostgres, startRedis, type PostgresService, type RedisService } from './startServices.js'

// Rules under scale-out (RULES-3.5): two `weft serve --rules` nodes on one Redis and one PostgreSQL.

const RULES = fileURLToPath(new URL('./uniqueRulesModule.mjs', import.meta.url))

let redis: RedisService
let postgres: PostgresService
let nodeA: WeftProcess
let nodeB: WeftProcess
let urlA: string
let urlB: string
const clients: StockClient[] = []

const startNode = async (): Promise<[WeftProcess, string]> => {
  const p = spawnWeft([
    'serve',
    '--port',
    '0',
    '--redis',
    redis.url,
    '--postgres',
    postgres.url,
    '--rules',
    RULES,
    '--commit-window-ms',
    '10',
  ])
  return [p, `ws://127.0.0.1:${await listening(p)}/relay`]
}

const client = (url: string, room: string): StockClient => {
  const c = stockClient(url, room)
  clients.push(c)
  return c
}

/** Resolves with the close code of `c`'s connection. */
const closeCode = (c: StockClient): Promise<number> =>
  new Promise((resolve) => c.provider.on('connection-close', (event) => resolve(event?.code ?? 0)))

/** Adds a shape `id` named `name` to `c`'s document. */
const addShape = (c: StockClient, id: string, name: string): void => {
  const shape = new Y.Map<unknown>()
  shape.set('name', name)
  shape.set('x', 1)
  c.doc.getMap('shapes').set(id, shape)
}

/** Resolves once `c`'s document holds the shape `id`. */
const hasShape = (c: StockClient, id: string): Promise<void> =>
  new Promise((resolve) => {
    const shapes = c.doc.getMap('shapes')
    const check = () => {
      if (!shapes.has(id)) return
      shapes.unobserve(check)
      resolve()
    }
    shapes.observe(check)
    check()
  })

beforeAll(async () => {
  redis = await startRedis()
  postgres = await startPostgres()
  ;[[nodeA, urlA], [nodeB, urlB]] = await Promise.all([startNode(), startNode()])
}, 40_000)

afterEach(() => {
  for (const c of clients.splice(0)) c.destroy()
})

afterAll(async () => {
  for (const p of [nodeA, nodeB]) {
    if (p && p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGKILL')
      await p.exited
    }
  }
  await postgres?.stop()
  await redis?.stop()
})

describe('rules under scale-out (RULES-3.5)', { timeout: 30_000 }, () => {
  it('RULES-3.5: a unique value accepted on node A is refused on node B once B has it (4405, nothing stored)', async () => {
    const room = 'unique-across-nodes'
    const alice = client(urlA, room)
    const mallory = client(urlB, room)
    await Promise.all([alice.synced(), mallory.synced()])
    addShape(alice, 'a1', 'x')
    await hasShape(mallory, 'a1')
    const closed = closeCode(mallory)
    addShape(mallory, 'm1', 'x')
    expect(await closed).toBe(CloseCode.UpdateRejected)
    // A fresh reader on node A sees alice's shape and never mallory's.
    const reader = client(urlA, room)
    await reader.synced()
    await hasShape(reader, 'a1')
    expect(reader.doc.getMap('shapes').has('m1')).toBe(false)
  })

  it('RULES-3.5: two writers racing on one node: the later is refused (4405), one value stored', async () => {
    const room = 'unique-one-node'
    const alice = client(urlA, room)
    const mallory = client(urlA, room)
    await Promise.all([alice.synced(), mallory.synced()])
    const codes = [closeCode(alice), closeCode(mallory)]
    addShape(alice, 'a1', 'x')
    addShape(mallory, 'm1', 'x')
    const first = await Promise.race(codes)
    expect(first).toBe(CloseCode.UpdateRejected)
    const reader = client(urlB, room)
    await reader.synced()
    const shapes = reader.doc.getMap('shapes')
    await new Promise<void>((resolve) => {
      const check = () => {
        if (shapes.size === 0) return
        shapes.unobserve(check)
        resolve()
      }
      shapes.observe(check)
      check()
    })
    expect(shapes.size).toBe(1)
  })
})

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CloseCode } from '@weft/core'
import { encodeSyncUpdate } from '@weft/core/protocol'
import { listening, spawnWeft, type WeftProcess } from '../helpers/spawnWeft.js'
import { stockClient, textEquals, type StockClient } from '../helpers/stockClient.js'
import { TestClient } from '../helpers/TestClient.js'
import { nullSubdocOptions, tinyUpdate } from '../relay/hostileFixtures.js'
import { startPostgres, startRedis, type PostgresService, type RedisService } from './startServices.js'

// Issue 17.1 with two `weft serve` nodes on one Redis and one PostgreSQL: the poison sent to node A killed node B.

let redis: RedisService
let postgres: PostgresService
const nodes: Array<{ p: WeftProcess; url: string }> = []
const clients: StockClient[] = []

const startNode = async () => {
  const p = spawnWeft(['serve', '--port', '0', '--redis', redis.url, '--postgres', postgres.url])
  const port = await listening(p)
  const node = { p, url: `ws://127.0.0.1:${port}/relay` }
  nodes.push(node)
  return node
}
const alive = (p: WeftProcess) => p.child.exitCode === null && p.child.signalCode === null

beforeAll(async () => {
  redis = await startRedis()
  postgres = await startPostgres()
}, 40_000)

afterAll(async () => {
  for (const c of clients.splice(0)) c.destroy()
  for (const { p } of nodes) if (alive(p)) p.child.kill('SIGKILL')
  await Promise.all(nodes.map(({ p }) => p.exited))
  await Promise.all([redis?.stop(), postgres?.stop()])
}, 30_000)

describe('scale-out against hostile writers (issue 17.1)', { timeout: 30_000 }, () => {
  it('SCALE-2.7 a poison update and 300 tiny ones sent to node A: both nodes survive and keep syncing the room', async () => {
    const [a, b] = [await startNode(), await startNode()]
    const onA = stockClient(a.url, 'room')
    const onB = stockClient(b.url, 'room')
    clients.push(onA, onB)
    await Promise.all([onA.synced(), onB.synced()])
    onA.doc.getText('t').insert(0, 'before;')
    await textEquals(onB.doc, 'before;')

    const attacker = await TestClient.open(`${a.url}/room`)
    attacker.send(encodeSyncUpdate(nullSubdocOptions()))
    for (let i = 0; i < 300; i++) attacker.send(encodeSyncUpdate(tinyUpdate(7, i)))
    expect((await attacker.closed).code).toBe(CloseCode.MalformedMessage)

    onB.doc.getText('t').insert(onB.doc.getText('t').length, 'after')
    await textEquals(onA.doc, 'before;after')
    expect(alive(a.p) && alive(b.p)).toBe(true)
  })
})

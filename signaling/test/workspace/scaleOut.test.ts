import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { PostgresDocStore } from '../../src/scaleout/PostgresDocStore.js'
import { stockClient, textEquals, type StockClient } from '../helpers/stockClient.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import {
  blackholePath,
  startPostgres,
  startRedis,
  type PostgresService,
  type RedisService,
} from '../scaleout/startServices.js'
import { WorkspaceTestClient } from './WorkspaceTestClient.js'

// Two relay nodes in this process on one Redis and one PostgreSQL (the store's workspace index is gap-free across
// nodes): CHANGED reaches a workspace socket whose node did not store the change.

let redis: RedisService
let postgres: PostgresService
const servers: TestServer[] = []
const closers: Array<() => unknown> = []

beforeAll(async () => {
  redis = await startRedis()
  postgres = await startPostgres()
}, 30_000)
afterEach(async () => {
  for (const close of closers.splice(0)) await close()
  await Promise.all(servers.splice(0).map((s) => s.close()))
})
afterAll(async () => {
  await Promise.all([redis?.stop(), postgres?.stop()])
}, 30_000)

const node = async (redisUrl = redis.url): Promise<TestServer> => {
  const store = new PostgresDocStore({ connectionString: postgres.url, maxConnections: 4 })
  const server = await startTestServer({
    store,
    relay: { scaleOut: { redisUrl, postgresUrl: postgres.url } },
  })
  servers.push(server)
  return server
}

const stock = (server: TestServer, room: string): StockClient => {
  const c = stockClient(`${server.ws}/relay`, room)
  closers.push(() => c.destroy())
  return c
}

describe('workspace endpoint in scale-out', () => {
  it('WS-RELAY-6: a commit on one node is pushed as CHANGED to the workspace sockets of another, in sequence', async () => {
    const a = await node()
    const b = await node()
    const watcher = await WorkspaceTestClient.open(`${a.ws}/workspace/team`)
    closers.push(() => watcher.close())
    // A catch-up answered means the socket's node has its starting point: later commits are pushed.
    watcher.catchUp(0)
    await watcher.next((f) => f.kind === 'changes')

    const writer = stock(b, 'team/one')
    await writer.synced()
    writer.doc.getText('t').insert(0, 'from node b')
    const first = await watcher.next((f) => f.kind === 'changed' && f.doc === 'one')
    const two = stock(b, 'team/two')
    await two.synced()
    two.doc.getText('t').insert(0, 'again')
    const second = await watcher.next((f) => f.kind === 'changed' && f.doc === 'two', first.index + 1)
    const seqs = [first.frame, second.frame].map((f) => (f.kind === 'changed' ? f.seq : -1))
    expect(seqs[1]).toBeGreaterThan(seqs[0] as number)
    // The same document through node a's workspace socket.
    watcher.subscribe('one')
    await watcher.text('one', 'from node b')
    const reader = stock(a, 'team/one')
    await textEquals(reader.doc, 'from node b')
  })

  it('SCALE-2.10: after the path to Redis hangs without a reset, CHANGED from another node reaches the workspace socket again (its notices ride on the room bus, whose liveness PING reconnects)', async () => {
    const path = await blackholePath(redis.url)
    closers.push(() => path.close())
    const a = await node(path.url)
    const b = await node()
    const watcher = await WorkspaceTestClient.open(`${a.ws}/workspace/hang`)
    closers.push(() => watcher.close())
    watcher.catchUp(0)
    await watcher.next((f) => f.kind === 'changes')
    const warm = stock(b, 'hang/warm')
    await warm.synced()
    warm.doc.getText('t').insert(0, 'before the hang')
    const before = await watcher.next((f) => f.kind === 'changed' && f.doc === 'warm')

    // Node a's connections to Redis go silent; node b stores a change whose notice a cannot receive.
    path.blackhole()
    const writer = stock(b, 'hang/one')
    await writer.synced()
    writer.doc.getText('t').insert(0, 'during the hang')
    // Fails with a workspace bus of its own connections: nothing checked them, so they stayed dead.
    await watcher.next((f) => f.kind === 'changed' && f.doc === 'one', before.index + 1)
  }, 30_000)
})

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { docId } from '@weft/core'
import { PostgresDocStore } from '../../src/scaleout/PostgresDocStore.js'
import { listening, spawnWeft, type WeftProcess } from '../helpers/spawnWeft.js'
import { stockClient, textEquals, type StockClient } from '../helpers/stockClient.js'
import { WeftTestClient } from '../helpers/WeftTestClient.js'
import { startPostgres, startRedis, type PostgresService, type RedisService } from './startServices.js'

// Two (sometimes three) `weft serve` processes on one Redis and one PostgreSQL, each started per file on Unix
// sockets. Rules: SCALE-* in docs/spec/relay-protocol.md.

const NODE_TIMEOUT_MS = 1500

let redis: RedisService
let postgres: PostgresService
let node1: Node
let node2: Node
const extraNodes: WeftProcess[] = []
const clients: StockClient[] = []
const weftClients: WeftTestClient[] = []

interface Node {
  readonly p: WeftProcess
  readonly port: number
  readonly url: string
}

const startNode = async (): Promise<Node> => {
  const p = spawnWeft([
    'serve',
    '--port',
    '0',
    '--redis',
    redis.url,
    '--postgres',
    postgres.url,
    '--node-timeout-ms',
    String(NODE_TIMEOUT_MS),
    '--commit-window-ms',
    '10',
  ])
  const port = await listening(p)
  return { p, port, url: `ws://127.0.0.1:${port}/relay` }
}

const killNode = async (node: Node): Promise<void> => {
  node.p.child.kill('SIGKILL')
  expect(await node.p.exited).toBe('SIGKILL')
}

const client = (node: Node, room: string): StockClient => {
  const c = stockClient(node.url, room)
  clients.push(c)
  return c
}

/** Resolves once `predicate` holds for `awareness` (checked now and on every change). */
const awarenessWhere = (
  c: StockClient,
  predicate: (states: Map<number, unknown>) => boolean,
): Promise<void> =>
  new Promise((resolve) => {
    const check = () => {
      if (!predicate(c.provider.awareness.getStates() as Map<number, unknown>)) return
      c.provider.awareness.off('change', check)
      resolve()
    }
    c.provider.awareness.on('change', check)
    check()
  })

beforeAll(async () => {
  // One after the other, so that whichever started is stopped in afterAll should the other fail.
  redis = await startRedis()
  postgres = await startPostgres()
  ;[node1, node2] = await Promise.all([startNode(), startNode()])
}, 40_000)

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy()
  await Promise.all(weftClients.splice(0).map((c) => c.client.close()))
})

afterAll(async () => {
  const procs = [node1?.p, node2?.p, ...extraNodes].filter((p): p is WeftProcess => p !== undefined)
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL')
  await Promise.all(procs.map((p) => p.exited))
  await Promise.all([redis?.stop(), postgres?.stop()])
}, 30_000)

describe('scale-out: two weft serve nodes on one Redis and one PostgreSQL', { timeout: 30_000 }, () => {
  it('SCALE-2.1: stock y-websocket clients on node 1 and node 2 sync both ways', async () => {
    const a = client(node1, 'both-ways')
    const b = client(node2, 'both-ways')
    await Promise.all([a.synced(), b.synced()])
    a.doc.getText('t').insert(0, 'from node 1;')
    await textEquals(b.doc, 'from node 1;')
    b.doc.getText('t').insert(b.doc.getText('t').length, 'from node 2')
    await textEquals(a.doc, 'from node 1;from node 2')
    // A client arriving later on either node gets everything.
    const c = client(node2, 'both-ways')
    await c.synced()
    expect(c.doc.getText('t').toString()).toBe('from node 1;from node 2')
  })

  it('SCALE-2.2: a node joining a room while another node receives a stream of updates ends with every update', async () => {
    const writer = client(node1, 'stream')
    await writer.synced()
    const text = writer.doc.getText('t')
    // Updates keep flowing on node 1 (paced by the event loop) before, during and after node 2 loads the room.
    let joiner: StockClient | null = null
    let joined = false
    let afterJoin = 0
    for (let i = 0; afterJoin < 100; i++) {
      text.insert(text.length, `${i},`)
      if (i === 50) {
        joiner = client(node2, 'stream')
        void joiner.synced().then(() => (joined = true))
      }
      if (joined) afterJoin++
      await new Promise((r) => setTimeout(r, 1))
    }
    await joiner?.synced()
    await textEquals(joiner?.doc ?? new Y.Doc(), text.toString())
    // A second joiner on node 2 is served from node 2's log, which must be complete too.
    const late = client(node2, 'stream')
    await late.synced()
    expect(late.doc.getText('t').toString()).toBe(text.toString())
  })

  it('SCALE-3.1, SCALE-3.3: presence crosses nodes and disappears when its node is killed', async () => {
    const node3 = await startNode()
    extraNodes.push(node3.p)
    const observer = client(node1, 'presence')
    const walker = client(node3, 'presence')
    await Promise.all([observer.synced(), walker.synced()])
    walker.provider.awareness.setLocalStateField('user', { name: 'walker' })
    const walkerId = walker.doc.clientID
    await awarenessWhere(
      observer,
      (s) => (s.get(walkerId) as { user?: unknown } | undefined)?.user !== undefined,
    )
    // A client on a third node joining later sees the walker too (presence query on load).
    const later = client(node2, 'presence')
    await awarenessWhere(later, (s) => s.has(walkerId))
    await killNode(node3)
    walker.provider.disconnect()
    // No ghost cursor: the dead node's client is removed everywhere after the node timeout.
    await Promise.all([
      awarenessWhere(observer, (s) => !s.has(walkerId)),
      awarenessWhere(later, (s) => !s.has(walkerId)),
    ])
  })

  it("SCALE-2.5: a Weft client's acknowledged updates survive kill -9 of its node and are served by the other node", async () => {
    const node3 = await startNode()
    extraNodes.push(node3.p)
    const watcher = client(node2, 'crash')
    await watcher.synced()
    const w = await WeftTestClient.open(`${node3.url}/crash`)
    weftClients.push(w)
    await w.next('sync-step2')
    const src = new Y.Doc()
    const updates: Uint8Array[] = []
    src.on('update', (u: Uint8Array) => updates.push(u))
    const text = src.getText('t')
    let last = 0
    for (let i = 0; i < 150; i++) {
      text.insert(text.length, `${i},`)
      last = w.sendUpdate(updates[i] as Uint8Array)
      if (i % 50 === 49) await w.ackAtLeast(last)
    }
    await killNode(node3)
    // Durable in PostgreSQL...
    const store = new PostgresDocStore({ connectionString: postgres.url })
    const stored = await store.load(docId('crash'))
    await store.close()
    const check = new Y.Doc()
    if (stored?.snapshot) Y.applyUpdateV2(check, stored.snapshot)
    for (const u of stored?.updates ?? []) Y.applyUpdate(check, u)
    expect(check.getText('t').toString()).toBe(text.toString())
    // ...reached the other node's live client, and is served to a newcomer there.
    await textEquals(watcher.doc, text.toString())
    const fresh = client(node2, 'crash')
    await fresh.synced()
    expect(fresh.doc.getText('t').toString()).toBe(text.toString())
  })

  it('SCALE-2.4: Redis killed and restarted mid-session: the nodes catch up and nothing is lost', async () => {
    const a = client(node1, 'redis-restart')
    const b = client(node2, 'redis-restart')
    await Promise.all([a.synced(), b.synced()])
    a.doc.getText('t').insert(0, 'before;')
    await textEquals(b.doc, 'before;')
    await redis.kill()
    a.doc.getMap('m').set('a', 'written on node 1 while Redis is down')
    b.doc.getMap('m').set('b', 'written on node 2 while Redis is down')
    await redis.restart()
    const converged = (doc: Y.Doc) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (doc.getMap('m').size < 2) return
          doc.getMap('m').unobserve(check)
          resolve()
        }
        doc.getMap('m').observe(check)
        check()
      })
    await Promise.all([converged(a.doc), converged(b.doc)])
    // After the restart the bus carries live updates again.
    a.doc.getText('t').insert(a.doc.getText('t').length, 'after')
    await textEquals(b.doc, 'before;after')
    const fresh = client(node2, 'redis-restart')
    await fresh.synced()
    expect(fresh.doc.getMap('m').toJSON()).toEqual(a.doc.getMap('m').toJSON())
    // The subscriber reconnected and resynchronised (not only the store sweep).
    expect(node1.p.logs.some((l) => l['msg'] === 'redis bus subscribed' && l['reconnect'] === true)).toBe(
      true,
    )
  })
})

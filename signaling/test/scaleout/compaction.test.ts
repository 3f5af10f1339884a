import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { docId } from '@weft/core'
import { PostgresDocStore } from '../../src/scaleout/PostgresDocStore.js'
import { GC_META_KEY } from '../../src/relay/RelayCompaction.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { stockClient, type StockClient } from '../helpers/stockClient.js'
import { startPostgres, startRedis, type PostgresService, type RedisService } from './startServices.js'

// Two relay nodes in this process (so their metrics can be read), on one Redis and one PostgreSQL, compacting
// often. Rules: SCALE-4 in docs/spec/relay-protocol.md, RELAY-3.6.

let redis: RedisService
let postgres: PostgresService
const servers: TestServer[] = []
const clients: StockClient[] = []

beforeAll(async () => {
  // One after the other, so that whichever started is stopped in afterAll should the other fail.
  redis = await startRedis()
  postgres = await startPostgres()
}, 30_000)
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy()
  await Promise.all(servers.splice(0).map((s) => s.close()))
})
afterAll(async () => {
  await Promise.all([redis?.stop(), postgres?.stop()])
}, 30_000)

const node = async (): Promise<TestServer> => {
  const store = new PostgresDocStore({ connectionString: postgres.url, maxConnections: 4 })
  const server = await startTestServer({
    store,
    commitWindowMs: 5,
    relay: {
      scaleOut: { redisUrl: redis.url, postgresUrl: postgres.url, sweepIntervalMs: 500 },
      compaction: { maxUpdates: 15, minTailRatio: 0 },
    },
  })
  servers.push(server)
  return server
}

const client = (server: TestServer, room: string): StockClient => {
  const c = stockClient(`${server.ws}/relay`, room)
  clients.push(c)
  return c
}

/** Resolves once every doc's text equals the first one's. */
const converged = (docs: Y.Doc[]): Promise<string> =>
  new Promise((resolve) => {
    const texts = () => docs.map((d) => d.getText('t').toString())
    const check = () => {
      const all = texts()
      if (all.some((t) => t !== all[0])) return
      for (const d of docs) d.off('update', check)
      resolve(all[0] ?? '')
    }
    for (const d of docs) d.on('update', check)
    check()
  })

describe('scale-out compaction', { timeout: 30_000 }, () => {
  it('SCALE-4.1, SCALE-4.2, RELAY-3.6: two nodes writing and compacting one document at once lose nothing', async () => {
    const [n1, n2] = await Promise.all([node(), node()])
    const a = client(n1, 'busy')
    const b = client(n2, 'busy')
    await Promise.all([a.synced(), b.synced()])
    const write = async (c: StockClient, tag: string) => {
      const t = c.doc.getText('t')
      const m = c.doc.getMap('m')
      for (let i = 0; i < 120; i++) {
        t.insert(0, `${tag}${i} `)
        // Overwritten values are deleted content, which the compacted snapshot must not keep.
        m.set(tag, 'x'.repeat(100) + i)
        await new Promise((r) => setTimeout(r, 1))
      }
    }
    await Promise.all([write(a, 'a'), write(b, 'b')])
    const text = await converged([a.doc, b.doc])
    for (let i = 0; i < 120; i++) {
      expect(text).toContain(` a${i} `.slice(1))
      expect(text).toContain(` b${i} `.slice(1))
    }
    const compactions = [n1, n2].map((n) => n.server.metrics.compactions.get())
    expect((compactions[0] ?? 0) + (compactions[1] ?? 0)).toBeGreaterThan(1)
    // Newcomers on both nodes, and the store itself, hold exactly the converged text.
    const fresh = [client(n1, 'busy'), client(n2, 'busy')]
    await Promise.all(fresh.map((c) => c.synced()))
    for (const c of fresh) expect(c.doc.getText('t').toString()).toBe(text)
    const stored = await n1.store.load(docId('busy'))
    expect(stored?.meta[GC_META_KEY]).toBeDefined()
    const check = new Y.Doc()
    if (stored?.snapshot) Y.applyUpdateV2(check, stored.snapshot)
    for (const u of stored?.updates ?? []) Y.applyUpdate(check, u)
    expect(check.getText('t').toString()).toBe(text)
  })

  it('RELAY-3.6: a joiner of a compacted document receives no deleted content', async () => {
    const [n1] = await Promise.all([node()])
    const a = client(n1, 'deleted')
    await a.synced()
    const t = a.doc.getText('t')
    for (let i = 0; i < 200; i++) {
      t.insert(0, 'x'.repeat(200))
      t.delete(0, 200)
      await new Promise((r) => setTimeout(r, 1))
    }
    t.insert(0, 'kept')
    // Wait until the writes are compacted (fewer stored tail updates than the policy's maxUpdates).
    const id = docId('deleted')
    const compacted = async () => {
      const stored = await n1.store.load(id)
      return stored?.snapshot !== null && (stored?.updates.length ?? 99) < 15
    }
    while (!(await compacted())) await new Promise((r) => setTimeout(r, 10))
    const fresh = client(n1, 'deleted')
    let bytes = 0
    fresh.provider.ws?.addEventListener('message', (e: MessageEvent) => {
      bytes += (e.data as ArrayBuffer).byteLength
    })
    await fresh.synced()
    expect(fresh.doc.getText('t').toString()).toBe('kept')
    expect(n1.server.metrics.compactions.get()).toBeGreaterThan(0)
    // 40,000 characters were typed and deleted; the joiner gets the compacted state plus a short tail (at most 14
    // updates of 200 characters each).
    expect(bytes).toBeLessThan(16_000) // merged updates without garbage collection: over 40,000
  })

  it('RELAY-3.6: a document stored with deleted content is rebuilt when loaded', async () => {
    // Written straight into the store, as an older relay (merged updates, no garbage collection) left it.
    const id = docId('fat')
    const writer = new PostgresDocStore({ connectionString: postgres.url })
    const src = new Y.Doc()
    const pending: Array<Promise<number>> = []
    src.on('update', (u: Uint8Array) => pending.push(writer.append(id, u)))
    for (let i = 0; i < 300; i++) {
      src.getText('t').insert(0, 'y'.repeat(300))
      src.getText('t').delete(0, 300)
    }
    src.getText('t').insert(0, 'survivor')
    await Promise.all(pending)
    expect((await writer.load(id))?.byteLength).toBeGreaterThan(64 * 1024)
    await writer.close()
    const n1 = await node()
    const joiner = client(n1, 'fat')
    let bytes = 0
    joiner.provider.ws?.addEventListener('message', (e: MessageEvent) => {
      bytes += (e.data as ArrayBuffer).byteLength
    })
    await joiner.synced()
    expect(joiner.doc.getText('t').toString()).toBe('survivor')
    expect(bytes).toBeLessThan(4096)
  })
})

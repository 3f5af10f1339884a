import { afterAll, afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { SqliteDocStore } from '@weft/sqlite-store'
import { docId } from '@weft/core'
import { countItems } from '@weft/core/epochs'
import type { CompactionRequest } from '../../src/relay/CompactionWorker.js'
import { GatedStore } from '../helpers/GatedStore.js'
import { GatedWorker } from '../helpers/GatedWorker.js'
import { stockClient, textEquals, type StockClient } from '../helpers/stockClient.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { WeftPeer, once } from '../helpers/WeftPeer.js'
import { WeftTestClient } from '../helpers/WeftTestClient.js'

// RELAY-3.8: the relay's heavy compaction work (the garbage-collecting rebuild of RELAY-3.6, the epoch switch of
// RELAY-EPOCH-4) runs in a worker thread for large states, so other rooms are served meanwhile.

const worker = new GatedWorker({ idleMs: 60_000 })
afterAll(() => worker.close())

let srv: TestServer | null = null
const stock: StockClient[] = []
const peers: WeftPeer[] = []
const clients: WeftTestClient[] = []
afterEach(async () => {
  for (const c of stock.splice(0)) c.destroy()
  await Promise.all(clients.splice(0).map((c) => c.client.close()))
  await Promise.all(peers.splice(0).map((p) => p.close()))
  await srv?.close()
  srv = null
})

describe('relay compaction off the event loop (RELAY-3.8)', () => {
  it('RELAY-3.8: a large state is rebuilt in the worker thread while another room syncs and stores edits', async () => {
    const store = new GatedStore(new SqliteDocStore({ path: ':memory:' }))
    srv = await startTestServer({
      store,
      relay: { compaction: { maxUpdates: 5, minTailRatio: 0, workerMinBytes: 1024, worker } },
    })
    const w = await WeftTestClient.open(`${srv.ws}/relay/big`)
    clients.push(w)
    await w.next('sync-step2')
    const src = new Y.Doc()
    const updates: Uint8Array[] = []
    src.on('update', (u: Uint8Array) => updates.push(u))
    const text = src.getText('t')
    text.insert(0, 'x'.repeat(4096))
    for (let i = 0; i < 6; i++) text.delete(i * 100, 50)
    const gate = worker.arm('collect')
    // One durable write each: the compaction policy counts writes.
    for (const u of updates) await w.ackAtLeast(w.sendUpdate(u))
    // The compaction of "big" is under way (its rebuild waits in the worker's queue)...
    await gate.entered
    const compacted = store.nextCompaction()
    // ...and another room is served meanwhile: a client joins, writes, and a second one receives it.
    const a = stockClient(`${srv.ws}/relay`, 'other')
    const b = stockClient(`${srv.ws}/relay`, 'other')
    stock.push(a, b)
    await Promise.all([a.synced(), b.synced()])
    a.doc.getText('t').insert(0, 'served during the compaction')
    await textEquals(b.doc, 'served during the compaction')
    expect(store.compactCalls).toBe(0)
    gate.release()
    await compacted
    // The rebuild ran in the worker thread, not in the relay's.
    expect(worker.threads.find((t) => t.op === 'collect')?.threadId).toBeGreaterThan(0)
    const stored = await store.load(docId('big'))
    const reloaded = new Y.Doc()
    Y.applyUpdateV2(reloaded, stored?.snapshot ?? new Uint8Array())
    for (const u of stored?.updates ?? []) Y.applyUpdate(reloaded, u)
    expect(reloaded.getText('t').toString()).toBe(text.toString())
    expect(countItems(reloaded).deletedItems).toBe(300)
    // Edits that arrive after the rebuild are kept on top of it.
    const joiner = stockClient(`${srv.ws}/relay`, 'big')
    stock.push(joiner)
    await joiner.synced()
    expect(joiner.doc.getText('t').toString()).toBe(text.toString())
  })

  it('RELAY-3.8, RELAY-EPOCH-5: the relay starts an epoch from a large state in the worker thread; held updates are re-applied', async () => {
    const store = new SqliteDocStore({ path: ':memory:' })
    srv = await startTestServer({
      store,
      relay: {
        compaction: { maxUpdates: 5, minTailRatio: 0, workerMinBytes: 0, worker },
        epochs: {
          autoStart: { minDeletedItems: 200, deletedPerLive: 10, minIntervalMs: 0 },
          workerMinBytes: 0,
          worker,
        },
      },
    })
    const a = await new WeftPeer('wb').open()
    peers.push(a)
    await a.connect(srv.ws)
    // Sees what the relay forwards: the held update reached the relay once it arrives here.
    const observer = await WeftTestClient.open(`${srv.ws}/relay/wb`)
    clients.push(observer)
    await observer.next('sync-step2')
    const changed = a.nextEpoch()
    const shapes = () => a.doc.getMap<number>('shapes')
    const gate = worker.arm('switch-start')
    const writing = (async () => {
      for (let round = 0; round < 100 && a.session.epoch === '0'; round++) {
        a.doc.transact(() => {
          for (let i = 0; i < 10; i++) shapes().set(`s${i % 3}`, round * 10 + i)
        })
        await Promise.race([once(a.session, 'ack'), changed])
      }
    })()
    // The switch is being computed in the worker: what A writes now is forwarded and held (RELAY-EPOCH-4).
    await gate.entered
    const forwarded = new Promise<void>((resolve) => {
      const seen = observer.doc.getMap('shapes')
      const check = () => {
        if (seen.get('late') === 1) resolve()
      }
      seen.observe(check)
    })
    a.doc.transact(() => shapes().set('late', 1))
    await forwarded
    gate.release()
    const record = await changed
    await writing
    // The held update is re-applied right after the switch, in the worker.
    await worker.completed('switch-late')
    expect(record.parent).toBe('0')
    const ran = (op: CompactionRequest['op']) => worker.threads.find((t) => t.op === op)?.threadId
    expect(ran('switch-start')).toBeGreaterThan(0)
    expect(ran('switch-late')).toBeGreaterThan(0)
    const s = stockClient(`${srv.ws}/relay`, 'wb')
    stock.push(s)
    await s.synced()
    expect(s.doc.getMap('shapes').get('late')).toBe(1)
    expect(s.doc.getMap('shapes').toJSON()).toEqual(shapes().toJSON())
    store.close().catch(() => undefined)
  })
})

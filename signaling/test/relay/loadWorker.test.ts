import { afterAll, afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { SqliteDocStore } from '@weft/sqlite-store'
import { docId } from '@weft/core'
import { quarantineId } from '../../src/relay/quarantine.js'
import { GatedWorker } from '../helpers/GatedWorker.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { WeftTestClient } from '../helpers/WeftTestClient.js'

// RELAY-3.11: a large room's load (screening its stored parts, merging them, its state vector) runs in the compaction
// worker, so every other room is served while it loads; joiners of the loading room wait for the whole of it.

const worker = new GatedWorker({ idleMs: 60_000 })
afterAll(() => worker.close())

let srv: TestServer | null = null
const clients: WeftTestClient[] = []
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.client.close()))
  await srv?.close()
  srv = null
})

const open = async (room: string): Promise<WeftTestClient> => {
  if (!srv) throw new Error('no server')
  const c = await WeftTestClient.open(`${srv.ws}/relay/${room}`)
  clients.push(c)
  return c
}

describe('loading a large room off the event loop (RELAY-3.11)', () => {
  it('RELAY-3.11, RELAY-9.3: another room is served and acknowledged while a large room loads in the worker; its joiner waits for the whole state', async () => {
    const store = new SqliteDocStore({ path: ':memory:' })
    const id = docId('big')
    // The stored room: 2,000 map entries in two updates (past the test's 1 KiB workerMinBytes), and a truncated
    // update the screen quarantines (RELAY-9.3, in the worker too).
    const src = new Y.Doc()
    const updates: Uint8Array[] = []
    src.on('update', (u: Uint8Array) => updates.push(u))
    for (const half of [0, 1]) {
      src.transact(() => {
        for (let i = 0; i < 1000; i++) src.getMap('m').set(`k${half * 1000 + i}`, i)
      })
    }
    for (const u of updates) await store.append(id, u)
    const broken = (updates[0] as Uint8Array).slice(0, 40)
    await store.append(id, broken)
    srv = await startTestServer({
      store,
      relay: { compaction: { workerMinBytes: 1024, worker } },
    })
    const gate = worker.arm('screen')
    // A joiner of the large room starts its load; the screen waits in the worker.
    const joiner = await open('big')
    await gate.entered
    // Meanwhile another room loads, syncs, and acknowledges a durable write.
    const other = await open('other')
    await other.next('sync-step2')
    const text = new Y.Doc()
    text.getText('t').insert(0, 'served while big loads')
    const seq = other.sendUpdate(Y.encodeStateAsUpdate(text))
    expect(await other.ackAtLeast(seq)).toBeGreaterThanOrEqual(seq)
    // The large room's joiner has been told nothing yet: no partial state.
    expect(joiner.has('sync-step1')).toBe(false)
    expect(joiner.has('sync-step2')).toBe(false)
    expect(joiner.doc.getMap('m').size).toBe(0)
    gate.release()
    await joiner.next('sync-step2')
    expect(joiner.doc.getMap('m').toJSON()).toEqual(src.getMap('m').toJSON())
    // The screen ran in the worker thread, and quarantined the broken update there.
    expect(worker.threads.find((t) => t.op === 'screen')?.threadId).toBeGreaterThan(0)
    expect((await store.load(quarantineId(id)))?.updates).toEqual([broken])
  })
})

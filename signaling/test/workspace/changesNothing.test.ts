import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { docId, isWorkspaceIndexed } from '@weft/core'
import type { WorkspaceFrame } from '@weft/core/protocol'
import { stockClient, textEquals, type StockClient } from '../helpers/stockClient.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { WorkspaceTestClient } from './WorkspaceTestClient.js'

let srv: TestServer | null = null
const stocks: StockClient[] = []
const clients: WorkspaceTestClient[] = []

afterEach(async () => {
  for (const s of stocks.splice(0)) s.destroy()
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await srv?.close()
  srv = null
})

const stock = (room: string, doc?: Y.Doc): StockClient => {
  const client = stockClient(`${srv?.ws}/relay`, room, doc ? { doc } : {})
  stocks.push(client)
  return client
}

/**
 * What the store holds of `room` past its snapshot (the seeded state) once the stored document reads `text`
 * (waited for through the workspace's CHANGED pushes, each sent after a durable commit): how many updates, and
 * whether they carry any deletion.
 */
const storedTail = async (watcher: WorkspaceTestClient, room: string, doc: string, text: string) => {
  const changed = (f: WorkspaceFrame) => f.kind === 'changed' && f.doc === doc
  for (let from = 0; ;) {
    const stored = await srv?.store.load(docId(room))
    const probe = new Y.Doc()
    if (stored?.snapshot) Y.applyUpdateV2(probe, stored.snapshot)
    for (const u of stored?.updates ?? []) Y.applyUpdate(probe, u)
    if (probe.getText('t').toString() === text) {
      const tail = stored?.updates ?? []
      const merged = tail.length === 0 ? new Uint8Array([0, 0]) : Y.mergeUpdates([...tail])
      return { updates: tail.length, deletes: Y.decodeUpdate(merged).ds.clients.size > 0 }
    }
    from = (await watcher.next(changed, from)).index + 1
  }
}

describe('store nothing that changes nothing', () => {
  it('RELAY-3.9: a stock client whose step 2 carries only deletions the relay holds stores nothing and advances no sequence; a new deletion is stored', async () => {
    srv = await startTestServer({ commitWindowMs: 0 })
    const store = srv.store
    if (!isWorkspaceIndexed(store)) throw new Error('the test store keeps no workspace index')
    // A document with deletions, stored (compacted) before anyone connects.
    const seed = new Y.Doc()
    seed.getText('t').insert(0, 'hello brave world')
    seed.getText('t').delete(5, 6)
    const clock = await store.append(docId('team/doc'), Y.encodeStateAsUpdate(seed))
    await store.compact(docId('team/doc'), Y.encodeStateAsUpdateV2(seed), clock)
    const seq = await store.workspaceSeq('team')
    const watcher = await WorkspaceTestClient.open(`${srv.ws}/workspace/team`)
    clients.push(watcher)

    // A replica holding the same state connects: its step 2 is the whole delete set and no struct.
    const replica = new Y.Doc()
    Y.applyUpdate(replica, Y.encodeStateAsUpdate(seed))
    const b = stock('team/doc', replica)
    await b.synced()
    // A later edit on the same connection: once it is stored, the step 2 before it was handled.
    replica.getText('t').insert(11, '!')
    const other = stock('team/doc')
    await textEquals(other.doc, 'hello world!')
    expect(await storedTail(watcher, 'team/doc', 'doc', 'hello world!')).toEqual({
      updates: 1,
      deletes: false,
    })
    expect(await store.workspaceSeq('team')).toBe(seq + 1)

    // A step 2 with a deletion the relay lacks is a change: stored, with a new number.
    b.provider.disconnect()
    replica.getText('t').delete(0, 1)
    b.provider.connect()
    await textEquals(other.doc, 'ello world!')
    expect(await storedTail(watcher, 'team/doc', 'doc', 'ello world!')).toEqual({ updates: 2, deletes: true })
    expect(await store.workspaceSeq('team')).toBe(seq + 2)
  })
})

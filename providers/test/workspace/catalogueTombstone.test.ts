/**
 * WS-PURGE-10: a tombstone of the catalogue is final. Each test makes the write that used to win win under Yjs's own
 * conflict rule (of two concurrent writes of one map key, the higher client id wins): the replica that resurrects or
 * deletes later writes the catalogue with the higher client id, so without the rule its write would be what every
 * replica reads.
 */
import { describe, expect, it } from 'vitest'
import { workspaceDocKeys } from '@weft/core'
import { MemoryDocStore, MemoryNetwork } from '@weft/core/testing'
import { openWorkspace, type Workspace } from '../../src/index.js'
import { MemoryWorkspaceRelay, settle } from './support/memoryWorkspaceRelay.js'

const W = 'team'
const RETENTION = 1_000_000

const setup = async () => {
  const net = new MemoryNetwork()
  const relay = new MemoryWorkspaceRelay(net)
  // The stand-in attaches a room's document asynchronously: open the rooms first (as the workspace fuzzer does).
  for (const id of ['.catalogue', 'd']) await relay.doc(`${W}/${id}`)
  let clock = 1_000
  const replica = async (name: string, clientId: number) => {
    const store = new MemoryDocStore()
    const ws = await openWorkspace({
      id: W,
      store,
      relay: relay.link(W, name),
      retention: RETENTION,
      now: () => clock,
    })
    ws.catalogue.doc.clientID = clientId
    return { store, ws }
  }
  return {
    net,
    relay,
    replica,
    at: (t: number) => (clock = t),
  }
}

/** The catalogue as a replica's list reads it: id, deleted, deletedAt, sorted by id. */
const listed = (ws: Workspace) =>
  [...ws.list.entries, ...ws.list.deleted]
    .map((e) => [e.id, e.deleted, e.deletedAt] as const)
    .sort((x, y) => (x[0] < y[0] ? -1 : 1))

describe('catalogue tombstones (WS-PURGE-10)', () => {
  it('WS-PURGE-10: a create of the same id concurrent with a delete does not undo the tombstone; a create after it is refused', async () => {
    const { net, relay, replica, at } = await setup()
    const a = await replica('a', 100)
    const b = await replica('b', 200)
    await settle(net)
    b.ws.disconnect()
    at(2_000)
    expect(a.ws.create({ id: 'd', title: 'first' }).ok).toBe(true)
    at(3_000)
    expect(a.ws.delete('d')).toEqual({ ok: true })
    // b never saw d: its create is concurrent with a's create and delete.
    at(4_000)
    expect(b.ws.create({ id: 'd', title: 'second' }).ok).toBe(true)
    b.ws.connect()
    await settle(net)
    for (const { ws } of [a, b]) expect(listed(ws)).toEqual([['d', true, 3_000]])
    // The id stays taken: a create on either replica is refused and writes nothing.
    for (const { ws } of [a, b])
      expect(ws.create({ id: 'd', title: 'third' })).toMatchObject({ ok: false, reason: 'exists' })
    expect(b.ws.list.get('d')?.title).not.toBe('third')
    for (const { ws } of [a, b]) await ws.destroy()
    await relay.destroy()
  })

  it('WS-PURGE-10: two deletes with different deletedAt: every replica keeps the earliest, a third delete changes nothing', async () => {
    const { net, relay, replica, at } = await setup()
    const a = await replica('a', 100)
    const b = await replica('b', 200)
    a.ws.create({ id: 'd', title: 'shared' })
    await settle(net)
    expect(b.ws.list.get('d')?.deleted).toBe(false)
    b.ws.disconnect()
    at(5_000)
    a.ws.delete('d')
    at(9_000)
    b.ws.delete('d') // b had not seen a's delete
    b.ws.connect()
    await settle(net)
    for (const { ws } of [a, b]) expect(listed(ws)).toEqual([['d', true, 5_000]])
    at(12_000)
    expect(b.ws.delete('d')).toEqual({ ok: true })
    await settle(net)
    for (const { ws } of [a, b]) expect(listed(ws)).toEqual([['d', true, 5_000]])
    // One purge time for everyone: past 5,000 + retention, not past 9,000 + retention.
    for (const { ws } of [a, b]) await ws.destroy()
    await relay.destroy()
  })

  it('WS-PURGE-10: a replica that purged meets one that resurrected the document: it stays deleted and purged everywhere', async () => {
    const { net, relay, replica, at } = await setup()
    const a = await replica('a', 100)
    const b = await replica('b', 200)
    await settle(net)
    b.ws.disconnect()
    at(2_000)
    a.ws.create({ id: 'd', title: 'old' })
    const old = await a.ws.open('d')
    old.doc.getMap('m').set('old', 1)
    await a.ws.close('d')
    await settle(net)
    a.ws.delete('d')
    await settle(net)
    // Past the retention: the relay and a purge d.
    at(2_000 + RETENTION + 1)
    expect(await relay.purge(W, RETENTION, 2_000 + RETENTION + 1)).toEqual([`${W}/d`])
    await a.ws.purge()
    expect(workspaceDocKeys(await a.store.list(), W, 'd')).toEqual([])
    // b, offline all along, creates d again and writes to it.
    expect(b.ws.create({ id: 'd', title: 'new' }).ok).toBe(true)
    const fresh = await b.ws.open('d')
    fresh.doc.getMap('m').set('new', 1)
    await b.ws.close('d')
    expect(b.ws.pendingChanges).toBeGreaterThan(0)
    b.ws.connect()
    await settle(net)
    await b.ws.purge()
    await b.ws.flushed()
    await settle(net)
    for (const { ws } of [a, b]) expect(listed(ws)).toEqual([['d', true, 2_000]])
    // b purged its copy with its refused changes (WS-PURGE-6); nothing of d came back anywhere.
    expect(b.ws.pendingChanges).toBe(0)
    for (const store of [a.store, b.store, relay.store])
      expect(workspaceDocKeys(await store.list(), W, 'd')).toEqual([])
    for (const { ws } of [a, b]) await ws.destroy()
    await relay.destroy()
  })
})

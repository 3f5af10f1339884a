import { describe, expect, it } from 'vitest'
import { MemoryDocStore, MemoryNetwork } from '@weft/core/testing'
import { DEFAULT_RETENTION_MS, openWorkspace } from '../../src/index.js'
import { MemoryWorkspaceRelay, settle } from './support/memoryWorkspaceRelay.js'

const DAY = 24 * 60 * 60 * 1000

const setup = async () => {
  const net = new MemoryNetwork()
  const relay = new MemoryWorkspaceRelay(net)
  let clock = 1_000_000
  const now = () => clock
  const replica = async (name: string, store = new MemoryDocStore()) => ({
    store,
    ws: await openWorkspace({ id: 'team', store, relay: relay.relayFor(name), now, retention: 7 * DAY }),
  })
  return { net, relay, replica, tick: (ms: number) => (clock += ms) }
}

const stored = async (store: MemoryDocStore) => (await store.list()).filter((id) => id === 'team/d')

describe('workspace delete', () => {
  it('WS-CLIENT-2.1: delete is a tombstone that syncs; the data stays (and opens) during the retention period', async () => {
    const { net, relay, replica, tick } = await setup()
    const a = await replica('a')
    const b = await replica('b')
    await settle(net)
    a.ws.create({ title: 'doomed', id: 'd' })
    const doc = await a.ws.open('d')
    doc.doc.getText('t').insert(0, 'keep me')
    await a.ws.close('d')
    await settle(net)
    tick(DAY)
    expect(b.ws.delete('d')).toEqual({ ok: true })
    await settle(net)
    for (const { ws } of [a, b]) {
      expect(ws.list.entries.map((e) => e.id)).toEqual([])
      expect(ws.list.deleted.map((e) => [e.id, e.deleted, e.deletedAt])).toEqual([
        ['d', true, 1_000_000 + DAY],
      ])
    }
    await a.ws.purge()
    expect(await stored(a.store)).toEqual(['team/d'])
    const again = await a.ws.open('d')
    expect(again.doc.getText('t').toString()).toBe('keep me')
    await a.ws.close('d')
    expect(DEFAULT_RETENTION_MS).toBe(30 * DAY)
    await a.ws.destroy()
    await b.ws.destroy()
    await relay.destroy()
  })

  it('WS-CLIENT-2.2: past the retention period every replica that sees the tombstone purges the data, also one that was offline', async () => {
    const { net, relay, replica, tick } = await setup()
    const a = await replica('a')
    const b = await replica('b')
    await settle(net)
    a.ws.create({ title: 'doomed', id: 'd' })
    for (const { ws } of [a, b]) {
      const doc = await ws.open('d')
      doc.doc.getText('t').insert(0, 'x')
      await settle(net)
      await ws.close('d')
    }
    await settle(net)
    expect(await stored(b.store)).toEqual(['team/d'])
    b.ws.disconnect()
    a.ws.delete('d')
    await settle(net)
    tick(7 * DAY - 1)
    await a.ws.purge()
    expect(await stored(a.store)).toEqual(['team/d']) // not yet
    tick(1)
    await a.ws.purge()
    expect(await stored(a.store)).toEqual([])
    expect(a.ws.list.deleted[0]).toMatchObject({ id: 'd', local: false })
    // b was offline when d was deleted: the tombstone arrives with the catalogue; b's retention counts from then,
    // its first sighting, never from the deletedAt a writer wrote (WS-PURGE-11).
    b.ws.connect()
    await settle(net)
    await b.ws.flushed()
    expect(b.ws.list.deleted.map((e) => e.id)).toEqual(['d'])
    expect(await stored(b.store)).toEqual(['team/d'])
    // A replica opened later on that store, with the old copy, purges when it opens once that retention passed.
    await b.ws.destroy()
    tick(7 * DAY)
    const c = await replica('c', b.store)
    await c.ws.flushed()
    expect(await stored(b.store)).toEqual([])
    await a.ws.destroy()
    await c.ws.destroy()
    await relay.destroy()
  })

  it('WS-CLIENT-2.2, WS-PURGE-6: an open document is purged only once closed; past the retention its pending changes go with it', async () => {
    const { net, relay, replica, tick } = await setup()
    const a = await replica('a')
    await settle(net)
    a.ws.create({ title: 'doomed', id: 'd' })
    const doc = await a.ws.open('d')
    await settle(net)
    a.ws.disconnect()
    doc.doc.getText('t').insert(0, 'offline edit')
    a.ws.delete('d')
    tick(8 * DAY)
    await a.ws.purge()
    expect(await stored(a.store)).toEqual(['team/d']) // open
    await a.ws.close('d')
    expect(a.ws.pendingChanges).toBeGreaterThan(0)
    await a.ws.purge()
    // Past the retention the relay refuses the document (WS-PURGE-5): the edit it never stored is dropped with it.
    expect(await stored(a.store)).toEqual([])
    a.ws.connect() // the catalogue's own pending change (the tombstone written offline) goes out
    await settle(net)
    await a.ws.flushed()
    expect((await relay.doc('team/d')).getText('t').toString()).toBe('')
    expect(await stored(a.store)).toEqual([])
    expect(a.ws.pendingChanges).toBe(0)
    expect(a.ws.status).toBe('synced')
    await a.ws.destroy()
    await relay.destroy()
  })
})

import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { docId, type Transport } from '@weft/core'
import { MemoryDocStore, MemoryNetwork } from '@weft/core/testing'
import { choosePreload, openWorkspace, type CatalogueRecord } from '../../src/index.js'
import { MemoryWorkspaceRelay, settle } from './support/memoryWorkspaceRelay.js'

const record = (id: string, updatedAt: number, extra: Partial<CatalogueRecord> = {}): CatalogueRecord => ({
  id,
  title: id,
  createdAt: 0,
  updatedAt,
  size: 0,
  deleted: false,
  deletedAt: 0,
  ...extra,
})

/** The text `t` of document `W/d` as stored in `store` (without opening it through the workspace). */
const storedText = async (store: MemoryDocStore, id: string): Promise<string | null> => {
  const stored = await store.load(docId(id))
  if (!stored) return null
  const doc = new Y.Doc()
  if (stored.snapshot) Y.applyUpdateV2(doc, stored.snapshot)
  for (const u of stored.updates) Y.applyUpdate(doc, u)
  return doc.getText('t').toString()
}

/** Replica `a` writes `text` into documents of workspace `team` through the relay. */
const writer = async (relay: MemoryWorkspaceRelay, net: MemoryNetwork) => {
  const ws = await openWorkspace({ id: 'team', store: new MemoryDocStore(), relay: relay.relayFor('writer') })
  await settle(net)
  return {
    ws,
    write: async (id: string, text: string) => {
      if (!ws.list.get(id)) ws.create({ title: id, id })
      const doc = await ws.open(id)
      doc.doc.getText('t').insert(doc.doc.getText('t').length, text)
      await settle(net)
      await ws.close(id)
      await settle(net)
    },
  }
}

describe('workspace preload', () => {
  it('WS-CLIENT-4.1: choosePreload: all, recent n, pinned ids, a predicate; never a deleted document', () => {
    const entries = [record('a', 3), record('b', 1), record('c', 2), record('gone', 9, { deleted: true })]
    const ids = (s: Set<string>) => [...s].sort()
    expect(ids(choosePreload(entries, 'all'))).toEqual(['a', 'b', 'c'])
    expect(ids(choosePreload(entries, { recent: 2 }))).toEqual(['a', 'c'])
    expect(ids(choosePreload(entries, { pinned: ['b', 'gone', 'unknown'] }))).toEqual(['b'])
    expect(ids(choosePreload(entries, (e) => e.title !== 'a'))).toEqual(['b', 'c'])
    expect(ids(choosePreload(entries, undefined))).toEqual([])
    const throwing = (e: CatalogueRecord) => {
      if (e.id === 'b') throw new Error('app bug')
      return true
    }
    expect(ids(choosePreload(entries, throwing))).toEqual(['a', 'c'])
  })

  it('WS-CLIENT-4.2: over a link, preloaded documents are fetched and kept in sync (open, sync, close: no Y.Doc kept); others are not', async () => {
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    const a = await writer(relay, net)
    await a.write('p', 'pinned v1')
    await a.write('q', 'other v1')
    const store = new MemoryDocStore()
    const link = relay.link('team', 'b')
    const b = await openWorkspace({ id: 'team', store, relay: link, preload: { pinned: ['p'] } })
    const loadedDuring: string[] = []
    b.on('progress', () => loadedDuring.push(...b.loaded))
    await settle(net)
    await b.flushed()
    expect(await storedText(store, 'team/p')).toBe('pinned v1')
    expect(await storedText(store, 'team/q')).toBeNull()
    expect(b.loaded).toEqual([])
    expect(b.list.get('p')).toMatchObject({ local: true, preloaded: true, open: false })
    expect(b.list.get('q')).toMatchObject({ local: false, preloaded: false })
    expect(link.asked[0]).toBe('.catalogue')
    // A change of p reaches b while nobody has it open, through `changed`; q's changes are noted only.
    await a.write('p', ' v2')
    await a.write('q', ' v2')
    await settle(net)
    await b.flushed()
    expect(await storedText(store, 'team/p')).toBe('pinned v1 v2')
    expect(await storedText(store, 'team/q')).toBeNull()
    expect(b.loaded).toEqual([])
    // Every change reported was handled: the link's cursor is at the relay's sequence.
    expect(link.cursor).toBe(await relay.store.workspaceSeq('team'))
    await a.ws.destroy()
    await b.destroy()
    await relay.destroy()
  })

  it('WS-CLIENT-4.2: a change of a preloaded document is reported handled only once it is stored here', async () => {
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    const a = await writer(relay, net)
    await a.write('p', 'v1')
    const link = relay.link('team', 'b')
    const b = await openWorkspace({ id: 'team', store: new MemoryDocStore(), relay: link, preload: 'all' })
    await settle(net)
    await b.flushed()
    const before = link.cursor
    // The change arrives (changed), but the document's own sync is cut before it completes.
    const doc = await a.ws.open('p')
    doc.doc.getText('t').insert(0, 'v2 ')
    let changedSeq = 0
    link.on('changed', ({ doc: d, seq }) => {
      if (d === 'p' && changedSeq === 0) {
        changedSeq = seq
        link.disconnect()
      }
    })
    await settle(net)
    expect(changedSeq).toBeGreaterThan(before)
    expect(link.handledSeqs.has(changedSeq)).toBe(false)
    expect(b.loaded).toEqual([]) // the brief sync was aborted and its document released
    await link.connect()
    await settle(net)
    await b.flushed()
    expect(link.handledSeqs.has(changedSeq)).toBe(true)
    await a.ws.close('p')
    await a.ws.destroy()
    await b.destroy()
    await relay.destroy()
  })

  it('WS-CLIENT-4.1: without a link, every preloaded document is synced once after the catalogue, then on each peer change of its record', async () => {
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    const a = await writer(relay, net)
    await a.write('x', 'x1')
    await a.write('y', 'y1')
    await a.write('z', 'z1')
    const store = new MemoryDocStore()
    const b = await openWorkspace({ id: 'team', store, relay: relay.relayFor('b'), preload: { recent: 2 } })
    await settle(net)
    await b.flushed()
    expect(await storedText(store, 'team/x')).toBeNull() // the oldest: not preloaded
    expect(await storedText(store, 'team/y')).toBe('y1')
    expect(await storedText(store, 'team/z')).toBe('z1')
    await a.write('z', ' z2')
    await settle(net)
    await b.flushed()
    expect(await storedText(store, 'team/z')).toBe('z1 z2')
    expect(b.loaded).toEqual([])
    await a.ws.destroy()
    await b.destroy()
    await relay.destroy()
  })
  it('WS-CLIENT-3.1, 4.2: opening a document during its brief sync shares the handle; the app keeps it after the sync ends', async () => {
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    const a = await writer(relay, net)
    await a.write('p', 'v1')
    const link = relay.link('team', 'b')
    const b = await openWorkspace({ id: 'team', store: new MemoryDocStore(), relay: link, preload: 'all' })
    // Deliver until the brief sync of p has loaded it, without letting it finish.
    while (!b.loaded.includes('p')) {
      net.deliver()
      await new Promise((r) => setImmediate(r))
    }
    const opened = await b.open('p')
    await settle(net)
    await b.flushed()
    expect(b.loaded).toEqual(['p'])
    expect(opened.doc.getText('t').toString()).toBe('v1')
    expect(b.list.get('p')).toMatchObject({ open: true, local: true })
    await b.close('p')
    expect(b.loaded).toEqual([])
    await a.ws.destroy()
    await b.destroy()
    await relay.destroy()
  })

  it('WS-CLIENT-4.5: a document the relay refuses for good is not retried and does not hold back the others', async () => {
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    const a = await writer(relay, net)
    for (const id of ['s', 't', 'u']) a.ws.create({ id })
    await a.write('v', 'visible')
    await settle(net)
    const factory = relay.relayFor('b')
    let refusals = 0
    // Documents s, t and u: the relay closes their connection with a final code (no access).
    const refusing = (room: string): Transport => {
      if (!/\/[stu]$/.test(room)) return factory(room)
      const t = net.transport(`refused:${room}:${refusals}`)
      t.connect = () => {
        refusals++
        const refused = t as unknown as { emit(name: string, args: unknown[]): void }
        refused.emit('connection-error', [
          { code: 4403, reason: 'forbidden', name: 'Forbidden', willRetry: false },
        ])
      }
      return t
    }
    const store = new MemoryDocStore()
    const errors: string[] = []
    const b = await openWorkspace({ id: 'team', store, relay: refusing, preload: 'all', concurrency: 1 })
    b.on('error', ({ error }) => errors.push(error.code))
    await settle(net)
    await b.flushed()
    expect(await storedText(store, 'team/v')).toBe('visible')
    expect(refusals).toBe(3)
    expect(errors).toEqual(['auth-denied', 'auth-denied', 'auth-denied'])
    expect(b.loaded).toEqual([])
    expect(b.progress).toMatchObject({ docs: 4, docsDone: 4 })
    await a.ws.destroy()
    await b.destroy()
    await relay.destroy()
  })
})

describe('workspace preload concurrency', () => {
  it('WS-CLIENT-4.1: by default 16 documents are synced at once (a round of 10 changed documents is one wave)', async () => {
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    const a = await writer(relay, net)
    for (let i = 0; i < 20; i++) a.ws.create({ title: `d${i}`, id: `d${i}` })
    await settle(net)
    const factory = relay.relayFor('b')
    // The catalogue syncs; no document's relay ever answers, so each brief sync holds its slot.
    const silent = (room: string): Transport =>
      room.endsWith('/.catalogue') ? factory(room) : net.transport(`silent:${room}`)
    const b = await openWorkspace({ id: 'team', store: new MemoryDocStore(), relay: silent, preload: 'all' })
    await settle(net)
    await b.catalogue.whenSynced
    await settle(net)
    expect(b.loaded).toHaveLength(16)
    expect(b.progress).toMatchObject({ docs: 20, docsDone: 0 })
    await a.ws.destroy()
    await b.destroy()
    await relay.destroy()
  })
})

describe('workspace open, stale and unload', () => {
  it('WS-CLIENT-4.3: a cached copy opens at once, stale until synced; a document not stored here opens empty, stale too', async () => {
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    const a = await writer(relay, net)
    await a.write('d', 'v1')
    const link = relay.link('team', 'b')
    const b = await openWorkspace({ id: 'team', store: new MemoryDocStore(), relay: link })
    await settle(net)
    const first = await b.open('d')
    await settle(net)
    expect(b.isStale('d')).toBe(false)
    expect(first.doc.getText('t').toString()).toBe('v1')
    await b.close('d')
    b.disconnect()
    await a.write('d', ' v2')
    await a.write('e', 'e1')
    const cached = await b.open('d')
    expect(cached.doc.getText('t').toString()).toBe('v1')
    expect(b.isStale('d')).toBe(true)
    expect(b.list.get('d')).toMatchObject({ open: true, stale: true, local: true })
    const fresh = await b.open('e')
    expect(fresh.doc.getText('t').toString()).toBe('')
    expect(b.isStale('e')).toBe(true)
    b.connect()
    await settle(net)
    expect(cached.doc.getText('t').toString()).toBe('v1 v2')
    expect(fresh.doc.getText('t').toString()).toBe('e1')
    expect(b.isStale('d')).toBe(false)
    expect(b.isStale('e')).toBe(false)
    expect(b.list.get('d')).toMatchObject({ stale: false })
    await a.ws.destroy()
    await b.destroy()
    await relay.destroy()
  })

  it('WS-CLIENT-3.1, 3.2: open returns the openDoc handle, shared and counted; the last close unloads it (no Y.Doc, transports destroyed)', async () => {
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    const live = new Set<Transport>()
    const factory = relay.relayFor('b')
    const counted = (room: string) => {
      const t = factory(room)
      live.add(t)
      const destroy = t.destroy.bind(t)
      t.destroy = () => {
        live.delete(t)
        destroy()
      }
      return t
    }
    const ws = await openWorkspace({ id: 'team', store: new MemoryDocStore(), relay: counted })
    await settle(net)
    expect(live.size).toBe(1) // the catalogue
    ws.create({ id: 'a' })
    ws.create({ id: 'b' })
    const one = await ws.open('a')
    const two = await ws.open('a')
    expect(two).toBe(one)
    expect(one.docId).toBe('team/a')
    await ws.open('b')
    expect([...ws.loaded].sort()).toEqual(['a', 'b'])
    expect(live.size).toBe(3)
    await ws.close('a')
    expect([...ws.loaded].sort()).toEqual(['a', 'b'])
    await ws.close('a')
    await ws.close('a') // an extra close does nothing
    await ws.close('b')
    expect(ws.loaded).toEqual([])
    expect(live.size).toBe(1)
    await expect(ws.open('.catalogue')).rejects.toMatchObject({ code: 'invalid-argument' })
    await ws.destroy()
    expect(live.size).toBe(0)
    await expect(ws.open('a')).rejects.toMatchObject({ code: 'destroyed' })
    await relay.destroy()
  })
})

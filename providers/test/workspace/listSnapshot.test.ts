import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import * as Y from 'yjs'
import { DocPersistence, docId, type DocStore, type Fields } from '@weft/core'
import { MemoryDocStore, MemoryNetwork } from '@weft/core/testing'
import { openWorkspace, type Workspace, type WorkspaceEntry } from '../../src/index.js'
import { LIST_SNAPSHOT_META } from '../../src/workspace/listSnapshot.js'
import { MemoryWorkspaceRelay, settle } from './support/memoryWorkspaceRelay.js'

afterEach(() => {
  vi.restoreAllMocks()
})

/**
 * Counts the transactions that apply stored content (origin: a `DocPersistence`, something changed) to a `Y.Doc`
 * from now on: the load of the catalogue (and of documents) from the store.
 */
const countStoredApplies = (): { readonly count: () => number } => {
  vi.restoreAllMocks()
  let n = 0
  const emit = Y.Doc.prototype.emit
  vi.spyOn(Y.Doc.prototype, 'emit').mockImplementation(function (this: Y.Doc, name: string, args: unknown[]) {
    const tr = args[0] as Y.Transaction
    if (name === 'afterTransaction' && tr.origin instanceof DocPersistence && tr.changed.size > 0) n++
    return emit.call(this, name as never, args as never)
  })
  return { count: () => n }
}

/** A view of `store` that writes no list snapshot (a crash after each catalogue append, before its snapshot). */
const withoutSnapshotWrites = (store: DocStore): DocStore =>
  new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'setMeta')
        return (d: never, key: string, value: string | null) =>
          key === LIST_SNAPSHOT_META ? Promise.resolve() : target.setMeta(d, key, value)
      const v = Reflect.get(target, prop, receiver) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })

/**
 * A view of `store` that never shows nor writes a list snapshot: the workspace opens the way it did before
 * snapshots.
 */
const withoutSnapshots = (store: DocStore): DocStore =>
  new Proxy(withoutSnapshotWrites(store), {
    get(target, prop, receiver) {
      if (prop === 'load')
        return async (d: never) => {
          const stored = await target.load(d)
          if (!stored || stored.meta[LIST_SNAPSHOT_META] === undefined) return stored
          const { [LIST_SNAPSHOT_META]: _dropped, ...meta } = stored.meta
          return { ...stored, meta }
        }
      const v = Reflect.get(target, prop, receiver) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })

const plain = <M extends Fields>(entries: ReadonlyArray<WorkspaceEntry<M>>) => entries.map((e) => ({ ...e }))

const listOf = <M extends Fields>(ws: Workspace<M>) => ({
  entries: plain(ws.list.entries),
  deleted: plain(ws.list.deleted),
})

/** The list as a workspace opened without any snapshot reads it from the same store (the differential's truth). */
const truth = async (store: DocStore, id: string) => {
  const ws = await openWorkspace({ id, store: withoutSnapshots(store), connect: false })
  const list = listOf(ws)
  await ws.destroy()
  return list
}

/** A macrotask: the deferred apply of the catalogue runs. */
const macrotask = () => new Promise<void>((resolve) => setTimeout(resolve, 0))

describe('warm open from the list snapshot (WS-CLIENT-8, issue #15)', () => {
  it('WS-CLIENT-8.1: a warm open reads the list from the snapshot before the catalogue is applied; the switch to the live catalogue changes nothing', async () => {
    const store = new MemoryDocStore()
    const a = await openWorkspace({ id: 'team', store, connect: false })
    for (let i = 0; i < 30; i++) expect(a.create({ title: `d${i}`, id: `d${i}` }).ok).toBe(true)
    expect(a.delete('d3').ok).toBe(true)
    await a.flushed()
    const expected = listOf(a)
    await a.destroy()

    const applies = countStoredApplies()
    const again = await openWorkspace({ id: 'team', store, connect: false })
    const first = listOf(again)
    expect(applies.count()).toBe(0) // the list was read without applying the stored catalogue
    expect(again.catalogueLoaded).toBe(false)
    expect(first).toEqual(expected)
    const changes: Array<readonly string[]> = []
    again.list.on('change', ({ ids }) => changes.push(ids))
    await macrotask()
    expect(again.catalogueLoaded).toBe(true)
    expect(applies.count()).toBe(1)
    expect(changes).toEqual([]) // same items: no update event
    expect(listOf(again)).toEqual(expected)
    expect(again.typed.root.documents.get('d7')?.title).toBe('d7')
    const clock = (await store.load(docId('team/.catalogue')))?.clock
    await again.destroy()
    // The warm open wrote nothing to the catalogue (WS-CLIENT-1.6): its snapshot stays current.
    expect((await store.load(docId('team/.catalogue')))?.clock).toBe(clock)
    const third = await openWorkspace({ id: 'team', store, connect: false })
    expect(third.catalogueLoaded).toBe(false)
    await third.destroy()
  })

  it('WS-CLIENT-8.2: a catalogue update stored without its snapshot (a crash between them) is never hidden: the open applies the catalogue first', async () => {
    const store = new MemoryDocStore()
    const a = await openWorkspace({ id: 'team', store, connect: false })
    for (let i = 0; i < 5; i++) a.create({ title: `d${i}`, id: `d${i}` })
    await a.destroy() // the snapshot of these five is stored
    // The next session's catalogue updates are stored, their snapshot never is.
    const b = await openWorkspace({ id: 'team', store: withoutSnapshotWrites(store), connect: false })
    expect(b.create({ title: 'new', id: 'new' }).ok).toBe(true)
    expect(b.update('d1', { title: 'renamed' }).ok).toBe(true)
    expect(b.delete('d2').ok).toBe(true)
    await b.destroy()

    const applies = countStoredApplies()
    const c = await openWorkspace({ id: 'team', store, connect: false })
    const first = listOf(c)
    expect(applies.count()).toBe(1) // stale snapshot: applied before the list was read
    expect(c.catalogueLoaded).toBe(true)
    expect(first.entries.map((e) => e.id).sort()).toEqual(['d0', 'd1', 'd3', 'd4', 'new'])
    expect(first.entries.find((e) => e.id === 'd1')?.title).toBe('renamed')
    expect(first.deleted.map((e) => e.id)).toEqual(['d2'])
    expect(first).toEqual(await truth(store, 'team'))
    await c.flushed() // the fallback wrote a current snapshot: the next open uses it
    await c.destroy()
    const applies2 = countStoredApplies()
    const d = await openWorkspace({ id: 'team', store, connect: false })
    expect(listOf(d)).toEqual(first)
    expect(applies2.count()).toBe(0)
    await d.destroy()
  })

  it("WS-CLIENT-8.2: two writers sharing a store (tabs) write no snapshot that lacks the other's records", async () => {
    const store = new MemoryDocStore()
    const seed = await openWorkspace({ id: 'team', store, connect: false })
    seed.create({ title: 's', id: 's' })
    await seed.destroy()
    const a = await openWorkspace({ id: 'team', store, connect: false })
    const b = await openWorkspace({ id: 'team', store, connect: false })
    expect(a.create({ title: 'a1', id: 'a1' }).ok).toBe(true)
    await a.flushed() // the store holds exactly a's state: a snapshot of it is current
    expect(b.create({ title: 'b1', id: 'b1' }).ok).toBe(true) // b's append follows a's, which b does not hold
    await b.flushed()
    expect(a.create({ title: 'a2', id: 'a2' }).ok).toBe(true) // a's append follows b's, which a does not hold
    await a.flushed()
    await a.destroy()
    await b.destroy()

    const c = await openWorkspace({ id: 'team', store, connect: false })
    expect(c.list.entries.map((e) => e.id).sort()).toEqual(['a1', 'a2', 'b1', 's'])
    expect(listOf(c)).toEqual(await truth(store, 'team'))
    await c.destroy()
  })

  it('WS-CLIENT-8.3: writes made before the deferred apply wait for it and are kept (create, rename, delete; an id in use is still refused)', async () => {
    const store = new MemoryDocStore()
    const a = await openWorkspace({ id: 'team', store, connect: false })
    for (let i = 0; i < 5; i++) a.create({ title: `d${i}`, id: `d${i}` })
    await a.destroy()

    const b = await openWorkspace({ id: 'team', store, connect: false })
    expect(b.catalogueLoaded).toBe(false)
    expect(b.create({ title: 'again', id: 'd0' })).toMatchObject({ ok: false, reason: 'exists' })
    expect(b.catalogueLoaded).toBe(true)
    expect(b.create({ title: 'x', id: 'x' }).ok).toBe(true)
    expect(b.update('d1', { title: 'one' }).ok).toBe(true)
    expect(b.delete('d2').ok).toBe(true)
    expect(b.list.get('x')?.title).toBe('x')
    expect(b.list.get('d1')?.title).toBe('one')
    expect(b.list.get('d2')?.deleted).toBe(true)
    await b.destroy()

    const c = await openWorkspace({ id: 'team', store, connect: false })
    expect(c.catalogueLoaded).toBe(false) // a current snapshot again
    expect(c.list.entries.map((e) => e.id).sort()).toEqual(['d0', 'd1', 'd3', 'd4', 'x'])
    expect(c.list.get('d1')?.title).toBe('one')
    expect(listOf(c)).toEqual(await truth(store, 'team'))
    await c.destroy()
  })

  it('WS-CLIENT-8.1: a connected warm open connects the catalogue once it is applied, and a peer change made meanwhile arrives', async () => {
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    const store = new MemoryDocStore()
    const a = await openWorkspace({ id: 'team', store, relay: relay.relayFor('a') })
    for (let i = 0; i < 10; i++) a.create({ title: `d${i}`, id: `d${i}` })
    await settle(net)
    await a.destroy()
    const b = await openWorkspace({ id: 'team', store: new MemoryDocStore(), relay: relay.relayFor('b') })
    await settle(net)
    b.create({ title: 'from b', id: 'b1' })
    await settle(net)

    const again = await openWorkspace({ id: 'team', store, relay: relay.relayFor('a') })
    expect(again.catalogueLoaded).toBe(false)
    expect(again.list.entries).toHaveLength(10)
    const arrived = new Promise<void>((resolve) =>
      again.list.on('change', ({ ids }) => {
        if (ids.includes('b1')) resolve()
      }),
    )
    await macrotask()
    await settle(net)
    await arrived
    expect(again.list.entries).toHaveLength(11)
    await again.catalogue.whenSynced
    await b.destroy()
    await again.destroy()
    await relay.destroy()
  })

  it('WS-CLIENT-8.2: differential: across sessions of random creates, renames, deletes, offline edits of another replica and crashes before the snapshot, the list read at open equals the list read without a snapshot', async () => {
    type Op =
      | { kind: 'create'; id: number }
      | { kind: 'rename'; id: number; title: string }
      | { kind: 'delete'; id: number }
      | { kind: 'remote'; id: number; title: string }
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('create' as const), id: fc.nat(12) }),
      fc.record({ kind: fc.constant('rename' as const), id: fc.nat(12), title: fc.string({ maxLength: 4 }) }),
      fc.record({ kind: fc.constant('delete' as const), id: fc.nat(12) }),
      fc.record({ kind: fc.constant('remote' as const), id: fc.nat(12), title: fc.string({ maxLength: 4 }) }),
    )
    const session = fc.record({ ops: fc.array(op, { maxLength: 6 }), crash: fc.boolean() })
    await fc.assert(
      fc.asyncProperty(fc.array(session, { minLength: 1, maxLength: 4 }), async (sessions) => {
        const net = new MemoryNetwork()
        const relay = new MemoryWorkspaceRelay(net)
        const store = new MemoryDocStore()
        const other = new MemoryDocStore()
        let clock = 1_000
        const now = () => clock++
        for (const { ops, crash } of sessions) {
          // Offline edits of the other replica, made while this one is closed.
          const remote = ops.filter((o) => o.kind === 'remote')
          if (remote.length > 0) {
            const b = await openWorkspace({ id: 'w', store: other, relay: relay.relayFor('b'), now })
            await settle(net)
            for (const o of remote)
              if (!b.update(`d${o.id}`, { title: o.title }).ok) b.create({ id: `d${o.id}`, title: o.title })
            await settle(net)
            await b.destroy()
          }
          const view = crash ? withoutSnapshotWrites(store) : store
          const ws = await openWorkspace({ id: 'w', store: view, relay: relay.relayFor('a'), now })
          // The list as first read (from the snapshot when it is current) is the list without a snapshot.
          expect(listOf(ws)).toEqual(await truth(store, 'w'))
          await macrotask()
          await settle(net)
          for (const o of ops) {
            if (o.kind === 'create') ws.create({ id: `d${o.id}`, title: `t${o.id}` })
            else if (o.kind === 'rename') ws.update(`d${o.id}`, { title: o.title })
            else if (o.kind === 'delete') ws.delete(`d${o.id}`)
          }
          await settle(net)
          await ws.flushed()
          await ws.destroy()
        }
        const last = await openWorkspace({ id: 'w', store, connect: false })
        expect(listOf(last)).toEqual(await truth(store, 'w'))
        await last.destroy()
        await relay.destroy()
      }),
      { numRuns: 40, seed: 15 },
    )
  })
})

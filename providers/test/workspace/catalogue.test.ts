import { afterEach, describe, expect, it, vi } from 'vitest'
import { s, workspaceDocId } from '@weft/core'
import { MemoryDocStore, MemoryNetwork } from '@weft/core/testing'
import { openWorkspace } from '../../src/index.js'
import { MemoryWorkspaceRelay, settle } from './support/memoryWorkspaceRelay.js'

const schema = { color: s.enum(['red', 'blue']).optional('red'), starred: s.boolean().optional(false) }

const twoReplicas = async () => {
  const net = new MemoryNetwork()
  const relay = new MemoryWorkspaceRelay(net)
  let clock = 1_000
  const now = () => clock
  const storeA = new MemoryDocStore()
  const a = await openWorkspace({
    id: 'team',
    store: storeA,
    relay: relay.relayFor('a'),
    schema,
    now,
  })
  const b = await openWorkspace({
    id: 'team',
    store: new MemoryDocStore(),
    relay: relay.relayFor('b'),
    schema,
    now,
  })
  await settle(net)
  return { net, relay, a, b, storeA, tick: (ms: number) => (clock += ms) }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('workspace catalogue', () => {
  it('WS-CLIENT-1.1: the catalogue is the document W/.catalogue, loaded from the store before any network', async () => {
    const store = new MemoryDocStore()
    const first = await openWorkspace({ id: 'w', store, connect: false })
    const res = first.create({ title: 'Notes' })
    expect(res.ok).toBe(true)
    expect(first.catalogue.docId).toBe('w/.catalogue')
    await first.destroy()
    const again = await openWorkspace({ id: 'w', store, connect: false })
    expect(again.list.entries.map((e) => e.title)).toEqual(['Notes'])
    expect(again.status).toBe('offline')
    await again.destroy()
    await expect(openWorkspace({ id: 'a/b', store })).rejects.toMatchObject({ code: 'invalid-argument' })
  })

  it('WS-CLIENT-1.2: create checks the metadata with the schema, opens nothing, and refuses an existing id', async () => {
    const ws = await openWorkspace({
      id: 'w',
      store: new MemoryDocStore(),
      schema,
      now: () => 42,
      connect: false,
    })
    const ok = ws.create({ title: 'Plan', color: 'blue', id: 'plan' })
    expect(ok).toEqual({ ok: true, id: 'plan' })
    expect(ws.list.get('plan')).toMatchObject({
      title: 'Plan',
      color: 'blue',
      starred: false,
      createdAt: 42,
      updatedAt: 42,
      size: 0,
      deleted: false,
      local: false,
      open: false,
    })
    expect(ws.loaded).toEqual([])
    // @ts-expect-error not one of the enum's values
    const bad = ws.create({ title: 'x', color: 'green' })
    expect(bad).toMatchObject({ ok: false, reason: 'invalid-value' })
    expect(ws.create({ title: 'again', id: 'plan' })).toMatchObject({ ok: false, reason: 'exists' })
    expect(ws.list.entries).toHaveLength(1)
    expect(() => ws.create({ id: '.hidden' })).toThrow(/document id/)
    expect(() => ws.create({ id: 'a~b' })).toThrow(/document id/)
    await ws.destroy()
  })

  it('WS-CLIENT-1.3: two replicas converge on one catalogue; the list emits change for a peer’s records', async () => {
    const { net, relay, a, b } = await twoReplicas()
    const seen: string[][] = []
    b.list.on('change', ({ ids }) => seen.push([...ids]))
    const one = a.create({ title: 'one', id: 'one' })
    const two = b.create({ title: 'two', color: 'blue', id: 'two' })
    expect(one.ok && two.ok).toBe(true)
    await settle(net)
    const titles = (ws: typeof a) => ws.list.entries.map((e) => `${e.id}:${e.title}:${e.color}`).sort()
    expect(titles(a)).toEqual(['one:one:red', 'two:two:blue'])
    expect(titles(b)).toEqual(titles(a))
    expect(seen.flat()).toContain('one')
    expect((await relay.doc(workspaceDocId('team', '.catalogue'))).getMap('documents').size).toBe(2)
    await a.destroy()
    await b.destroy()
    await relay.destroy()
  })

  it('WS-CLIENT-1.3: a record a peer writes that does not match the schema is left out of the list, never thrown', async () => {
    const { net, relay, a, b } = await twoReplicas()
    a.create({ title: 'good', id: 'good' })
    const invalid: string[] = []
    b.typed.on('invalid', ({ path }) => invalid.push(path.join('.')))
    // A peer with another app writes junk straight into the Y.Doc.
    const junk = new (await import('yjs')).Map<unknown>()
    a.catalogue.doc.getMap('documents').set('junk', junk)
    junk.set('title', 12)
    junk.set('color', 'purple')
    await settle(net)
    expect(b.list.entries.map((e) => e.id).sort()).toEqual(['good', 'junk'])
    expect(b.list.get('junk')).toMatchObject({ title: '', color: 'red' })
    expect(invalid).toContain('documents.junk.title')
    await a.destroy()
    await b.destroy()
    await relay.destroy()
  })

  it('WS-CLIENT-1.4: update renames; closing a document changed here records its updatedAt and size', async () => {
    const { net, relay, a, b, storeA, tick } = await twoReplicas()
    a.create({ title: 'draft', id: 'd' })
    tick(10)
    expect(a.update('d', { title: 'final', starred: true })).toEqual({ ok: true })
    const doc = await a.open('d')
    doc.doc.getText('t').insert(0, 'hello world')
    tick(10)
    await a.close('d')
    await settle(net)
    expect(b.list.get('d')).toMatchObject({ title: 'final', starred: true, updatedAt: 1_020 })
    expect(b.list.get('d')!.size).toBeGreaterThan(10)
    // Opening and closing without a change leaves the record alone.
    tick(10)
    await a.open('d')
    await a.close('d')
    await settle(net)
    expect(b.list.get('d')!.updatedAt).toBe(1_020)
    // A document still open when the workspace is destroyed records its change too.
    const open = await a.open('d')
    open.doc.getText('t').insert(0, '!')
    tick(10)
    await a.destroy()
    const reopened = await openWorkspace({ id: 'team', store: storeA, schema, connect: false })
    expect(reopened.list.get('d')!.updatedAt).toBe(1_040)
    expect(reopened.pendingChanges).toBeGreaterThan(0) // the record is sent at the next connection
    await reopened.destroy()
    await b.destroy()
    await relay.destroy()
  })

  it('WS-CLIENT-1.4: an open document changed here is recorded at most every touchMs, before it is closed', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const net = new MemoryNetwork()
    const relay = new MemoryWorkspaceRelay(net)
    let clock = 1_000
    const now = () => clock
    const open = (name: string) =>
      openWorkspace({
        id: 'team',
        store: new MemoryDocStore(),
        relay: relay.relayFor(name),
        now,
        touchMs: 5_000,
      })
    const a = await open('a')
    const b = await open('b')
    await settle(net)
    a.create({ title: 'live', id: 'd' })
    const doc = await a.open('d')
    clock = 2_000
    doc.doc.getText('t').insert(0, 'one')
    clock = 3_000
    doc.doc.getText('t').insert(0, 'two') // the same period: one write
    await settle(net)
    expect(b.list.get('d')!.updatedAt).toBe(1_000)
    clock = 4_000
    vi.advanceTimersByTime(5_000)
    await settle(net)
    expect(b.list.get('d')).toMatchObject({ updatedAt: 4_000 })
    expect(b.list.get('d')!.size).toBeGreaterThan(5)
    clock = 9_000
    vi.advanceTimersByTime(5_000) // nothing changed since: nothing written
    await settle(net)
    expect(b.list.get('d')!.updatedAt).toBe(4_000)
    await a.close('d')
    await a.destroy()
    await b.destroy()
    await relay.destroy()
  })
})

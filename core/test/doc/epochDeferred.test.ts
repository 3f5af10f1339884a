/**
 * COMPACT-8: by default an open document never swaps its Y.Doc. An epoch a peer or the relay starts waits for the
 * next open, which takes it before handing out the document; nothing stored locally is lost on the way, whatever
 * write a crash interrupts.
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { docId, openDocument, type DocHandle, type DocStore, type EpochRecord } from '../../src/index.js'
import { CrashingDocStore, MemoryDocStore, MemoryNetwork } from '../../src/testing/index.js'
import { readWaitingEpoch } from '../../src/doc/waitingEpoch.js'
import type { MemoryTransport } from '../../src/transport/MemoryTransport.js'

const D = docId('d')

const settle = async (net: MemoryNetwork, handles: readonly DocHandle[]): Promise<void> => {
  for (let quiet = 0, i = 0; quiet < 2; i++) {
    if (i > 1000) throw new Error('did not settle')
    net.flush()
    await Promise.all(handles.map((h) => h.flushed()))
    await Promise.all(handles.map((h) => h.epochs?.settled()))
    await new Promise((r) => setImmediate(r))
    quiet = net.pending === 0 ? quiet + 1 : 0
  }
}

/** The relay stand-in: a live handle with a store, the epoch authority (it starts epochs, like `--epoch-reset`). */
const relayOn = async (net: MemoryNetwork) => {
  const handle = await openDocument({
    docId: 'd',
    store: new MemoryDocStore(),
    persistPending: false,
    epochs: 'live',
  })
  const transport = net.transport('relay')
  handle.addTransport(transport)
  transport.connect()
  return { handle, transport }
}

let clients = 0
/** A client in the default mode, connected to the relay. */
const clientOn = async (net: MemoryNetwork, relay: MemoryTransport, store: DocStore) => {
  const handle = await openDocument({ docId: 'd', store })
  const epochAtOpen = handle.session.epoch
  const docAtOpen = handle.doc
  const t = net.transport(`c${clients++}`)
  net.link(t, relay)
  handle.addTransport(t, { relay: true })
  t.connect()
  return { handle, transport: t, epochAtOpen, docAtOpen }
}

/**
 * A client edits, the relay resets its epoch while the client is open, the client edits again (deferred). Returns
 * the client (still open) and the new epoch's record.
 */
const deferredScenario = async (net: MemoryNetwork, store: DocStore) => {
  const relay = await relayOn(net)
  const client = await clientOn(net, relay.transport, store)
  client.handle.doc.getText('t').insert(0, 'hello')
  await settle(net, [client.handle, relay.handle])
  expect(relay.handle.doc.getText('t').toString()).toBe('hello')
  const changed: Y.Doc[] = []
  client.handle.on('epoch-changed', ({ doc }) => changed.push(doc))
  const available: EpochRecord[] = []
  client.handle.on('epoch-available', ({ record }) => available.push(record))
  const record = await relay.handle.epochs!.start()
  await settle(net, [client.handle, relay.handle])
  client.handle.doc.getText('t').insert(5, ' world')
  await settle(net, [client.handle, relay.handle])
  return { relay, client, record, changed, available }
}

describe('COMPACT-8 the Y.Doc stays put (default mode)', () => {
  it('COMPACT-8.1: an epoch the relay starts leaves the open Y.Doc in place; edits are stored and stay pending', async () => {
    const net = new MemoryNetwork()
    const store = new MemoryDocStore()
    const { relay, client, record, changed, available } = await deferredScenario(net, store)
    expect(client.handle.doc).toBe(client.docAtOpen)
    expect(changed).toEqual([])
    expect(available.map((r) => r.id)).toEqual([record.id])
    expect(client.handle.waitingEpoch?.id).toBe(record.id)
    expect(client.handle.session.epoch).toBe(client.epochAtOpen)
    expect(client.handle.doc.getText('t').toString()).toBe('hello world')
    // The relay does not have the deferred edit, and the count says so.
    expect(relay.handle.doc.getText('t').toString()).toBe('hello')
    expect(client.handle.pendingChanges).toBe(1)
    // Stored locally, with the waiting epoch beside it.
    const check = new Y.Doc()
    const stored = await store.load(D)
    for (const u of stored?.updates ?? []) Y.applyUpdate(check, u)
    expect(check.getText('t').toString()).toBe('hello world')
    expect((await readWaitingEpoch(store, D))?.id).toBe(record.id)
    await client.handle.destroy()
    await relay.handle.destroy()
  })

  it('COMPACT-8.2: the next open takes the waiting epoch before handing out the doc; the edits reach the relay', async () => {
    const net = new MemoryNetwork()
    const store = new MemoryDocStore()
    const { relay, client, record } = await deferredScenario(net, store)
    await client.handle.destroy()
    const again = await clientOn(net, relay.transport, store)
    // Switched before the app got the doc: no epoch-changed could be missed.
    expect(again.epochAtOpen).toBe(record.id)
    expect(again.docAtOpen.getText('t').toString()).toBe('hello world')
    expect(again.handle.pendingChanges).toBe(1)
    await settle(net, [again.handle, relay.handle])
    expect(again.handle.doc).toBe(again.docAtOpen)
    expect(relay.handle.doc.getText('t').toString()).toBe('hello world')
    expect(again.handle.pendingChanges).toBe(0)
    expect(await readWaitingEpoch(store, D)).toBe(null)
    await again.handle.destroy()
    await relay.handle.destroy()
  })

  it('COMPACT-8.2: a crash at any write of the reopen (or before it) loses nothing; a later open completes it', async () => {
    // How many writes a reopen that completes makes.
    const probe = new MemoryNetwork()
    const probeStore = new MemoryDocStore()
    const p = await deferredScenario(probe, probeStore)
    await p.client.handle.destroy()
    const counting = new CrashingDocStore(probeStore, { crashAfter: Infinity })
    const h = await openDocument({ docId: 'd', store: counting })
    const writes = counting.writes
    expect(writes).toBeGreaterThanOrEqual(2)
    await h.destroy()
    await p.relay.handle.destroy()
    for (let crashAfter = 0; crashAfter <= writes; crashAfter++) {
      const net = new MemoryNetwork()
      const store = new MemoryDocStore()
      const s = await deferredScenario(net, store)
      // The process dies: the old handle is never destroyed (its transport goes down with it).
      s.client.transport.disconnect()
      const crashing = new CrashingDocStore(store, { crashAfter })
      const dead = await openDocument({ docId: 'd', store: crashing })
      await dead.flushed()
      await crashing.settled()
      const again = await clientOn(net, s.relay.transport, store)
      expect(again.docAtOpen.getText('t').toString()).toBe('hello world')
      expect(again.epochAtOpen).toBe(s.record.id)
      await settle(net, [again.handle, s.relay.handle])
      expect(s.relay.handle.doc.getText('t').toString(), `crash after ${crashAfter} writes`).toBe(
        'hello world',
      )
      expect(again.handle.pendingChanges).toBe(0)
      await again.handle.destroy()
      await s.relay.handle.destroy()
    }
  })

  it('COMPACT-8.4: a second open takes the epoch while the first is still open: its later edits are kept for the next open', async () => {
    const net = new MemoryNetwork()
    const store = new MemoryDocStore()
    const { relay, client, record } = await deferredScenario(net, store)
    // A second tab (or a reopen while this one is still open) takes the waiting epoch: the store moves on.
    const second = await openDocument({ docId: 'd', store })
    expect(second.session.epoch).toBe(record.id)
    await second.destroy()
    // The first keeps its Y.Doc; its appends are refused now, so its state goes to the old epoch's archive.
    const errors: string[] = []
    client.handle.on('error', ({ error }) => errors.push(error.code))
    client.handle.doc.getText('t').insert(11, '!')
    client.transport.disconnect()
    await client.handle.destroy()
    expect(client.handle.doc.getText('t').toString()).toBe('hello world!')
    expect(errors).toContain('epoch-mismatch')
    const again = await clientOn(net, relay.transport, store)
    expect(again.epochAtOpen).toBe(record.id)
    expect(again.docAtOpen.getText('t').toString()).toBe('hello world!')
    expect(again.handle.pendingChanges).toBeGreaterThan(0)
    await settle(net, [again.handle, relay.handle])
    expect(relay.handle.doc.getText('t').toString()).toBe('hello world!')
    expect(again.handle.pendingChanges).toBe(0)
    await again.handle.destroy()
    // Taken once: the next open has nothing more to re-apply.
    const third = await openDocument({ docId: 'd', store })
    expect(third.doc.getText('t').toString()).toBe('hello world!')
    expect(third.pendingChanges).toBe(0)
    await third.destroy()
    await relay.handle.destroy()
  })

  it('COMPACT-8.1: an empty document takes the epoch in place: same Y.Doc, new content, new epoch', async () => {
    const net = new MemoryNetwork()
    const relay = await relayOn(net)
    relay.handle.doc.getText('t').insert(0, 'content')
    const record = await relay.handle.epochs!.start()
    const fresh = await clientOn(net, relay.transport, new MemoryDocStore())
    const changed: unknown[] = []
    fresh.handle.on('epoch-changed', (e) => changed.push(e))
    await settle(net, [fresh.handle, relay.handle])
    expect(fresh.handle.doc).toBe(fresh.docAtOpen)
    expect(fresh.handle.session.epoch).toBe(record.id)
    expect(fresh.handle.doc.getText('t').toString()).toBe('content')
    expect(changed).toEqual([])
    fresh.handle.doc.getText('t').insert(7, '!')
    await settle(net, [fresh.handle, relay.handle])
    expect(relay.handle.doc.getText('t').toString()).toBe('content!')
    expect(fresh.handle.pendingChanges).toBe(0)
    await fresh.handle.destroy()
    await relay.handle.destroy()
  })

  it('COMPACT-8.1b: a new device reaches the newest of several epochs in one open, with its content, and syncs', async () => {
    // Outside review R4 (2026-12-08): the empty document took the first epoch in place, held its content, then
    // deferred the next one: stuck (never synced, old content) until reopened, one epoch per open.
    const net = new MemoryNetwork()
    const relay = await relayOn(net)
    const text = () => relay.handle.doc.getText('t') // a new Y.Doc after each start (live mode)
    text().insert(0, 'line 0;')
    await relay.handle.epochs!.start()
    text().insert(7, 'line 1;')
    await relay.handle.epochs!.start()
    text().insert(14, 'line 2;')
    const newest = await relay.handle.epochs!.start()
    expect(newest.seq).toBe(3)
    const fresh = await clientOn(net, relay.transport, new MemoryDocStore())
    const changed: unknown[] = []
    const available: unknown[] = []
    fresh.handle.on('epoch-changed', (e) => changed.push(e))
    fresh.handle.on('epoch-available', (e) => available.push(e))
    await settle(net, [fresh.handle, relay.handle])
    expect(fresh.handle.session.epoch).toBe(newest.id)
    expect(fresh.handle.session.synced).toBe(true)
    expect(fresh.handle.doc).toBe(fresh.docAtOpen)
    expect(fresh.handle.doc.getText('t').toString()).toBe('line 0;line 1;line 2;')
    expect(fresh.handle.waitingEpoch).toBeNull()
    expect([changed, available]).toEqual([[], []])
    fresh.handle.doc.getText('t').insert(0, '!')
    await settle(net, [fresh.handle, relay.handle])
    expect(relay.handle.doc.getText('t').toString()).toBe('!line 0;line 1;line 2;')
    expect(fresh.handle.pendingChanges).toBe(0)
    await fresh.handle.destroy()
    await relay.handle.destroy()
  })

  it.each([
    ["epochs: 'live'", { store: new MemoryDocStore(), epochs: 'live' as const }],
    ['no store (COMPACT-8.5)', {}],
  ])('COMPACT-8.3: %s switches at once (a new Y.Doc, epoch-changed)', async (_name, options) => {
    const net = new MemoryNetwork()
    const relay = await relayOn(net)
    const handle = await openDocument({ docId: 'd', ...options })
    const t = net.transport('live')
    net.link(t, relay.transport)
    handle.addTransport(t, { relay: true })
    t.connect()
    handle.doc.getText('t').insert(0, 'x')
    await settle(net, [handle, relay.handle])
    const before = handle.doc
    const changed: Y.Doc[] = []
    handle.on('epoch-changed', ({ doc }) => changed.push(doc))
    const record = await relay.handle.epochs!.start()
    await settle(net, [handle, relay.handle])
    expect(changed).toHaveLength(1)
    expect(handle.doc).not.toBe(before)
    expect(handle.session.epoch).toBe(record.id)
    await handle.destroy()
    await relay.handle.destroy()
  })
})

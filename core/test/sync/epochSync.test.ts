import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import type { DocPersistence } from '../../src/index.js'
import {
  Compactor,
  EpochManager,
  SyncSession,
  docId,
  inspectDoc,
  type EpochManagerOptions,
} from '../../src/index.js'
import {
  countItems,
  epochArchiveId,
  readEpochRecord,
  shouldStartEpoch,
  startEpoch,
} from '../../src/storage/epochs.js'
import { encodeEpochRequest, encodeSyncStep1, Feature, PROTOCOL_VERSION } from '../../src/protocol/index.js'
import {
  MemoryDocStore,
  MemoryNetwork,
  openEpochPeer,
  type MemoryTransport,
} from '../../src/testing/index.js'

const DOC = docId('board')

/** A peer with persistence, a session and an epoch manager, as an app would wire them. */
class Peer {
  doc!: Y.Doc
  session!: SyncSession
  persistence!: DocPersistence
  epochs!: EpochManager
  readonly links: MemoryTransport[] = []
  readonly errors: string[] = []
  readonly blocked: string[] = []
  constructor(
    readonly name: string,
    readonly store = new MemoryDocStore(),
    readonly options: Omit<EpochManagerOptions, 'persistence'> & { compactor?: Compactor } = {},
  ) {}

  async open(): Promise<this> {
    const doc = new Y.Doc()
    const { compactor, ...epochOptions } = this.options
    ;({
      persistence: this.persistence,
      epochs: this.epochs,
      session: this.session,
    } = await openEpochPeer({
      doc,
      store: this.store,
      docId: DOC,
      ...(compactor ? { compactor } : {}),
      epochs: epochOptions,
    }))
    this.doc = doc
    this.epochs.on('epoch-changed', ({ doc: next }) => (this.doc = next))
    this.epochs.on('blocked', ({ reason }) => this.blocked.push(reason))
    this.epochs.on('error', ({ error }) => this.errors.push(error.message))
    this.session.on('error', ({ error }) => this.errors.push(error.message))
    for (const t of this.links) this.session.addTransport(t)
    return this
  }

  async restart(): Promise<void> {
    await this.persistence.flushed()
    this.epochs.destroy()
    this.session.destroy()
    await this.persistence.destroy()
    await this.open()
  }

  text(): string {
    return this.doc.getText('t').toString()
  }
}

const link = (net: MemoryNetwork, a: Peer, b: Peer): [MemoryTransport, MemoryTransport] => {
  const ta = net.transport(`${a.name}>${b.name}`)
  const tb = net.transport(`${b.name}>${a.name}`)
  net.link(ta, tb)
  a.links.push(ta)
  b.links.push(tb)
  a.session.addTransport(ta)
  b.session.addTransport(tb)
  ta.connect()
  tb.connect()
  return [ta, tb]
}

/** Delivers messages and lets the asynchronous switches and store writes run until nothing moves. */
const settle = async (net: MemoryNetwork, peers: Peer[]): Promise<void> => {
  for (let i = 0; i < 20; i++) {
    net.flush()
    await Promise.all(peers.map((p) => p.epochs.settled()))
    await Promise.all(peers.map((p) => p.persistence.flushed()))
    if (net.pending === 0) return
  }
}

describe('epochs over the sync protocol (COMPACT-6)', () => {
  it('COMPACT-6.1 two peers edit offline across an epoch reset: nothing is lost, history is gone', async () => {
    const net = new MemoryNetwork()
    const a = await new Peer('a').open()
    const b = await new Peer('b').open()
    const [ta] = link(net, a, b)
    const shapes = a.doc.getMap<number>('shapes')
    // A whiteboard-like history: every shape moved many times.
    for (let move = 0; move < 50; move++) a.doc.transact(() => shapes.set(`s${move % 5}`, move))
    a.doc.getText('t').insert(0, 'hello world')
    await settle(net, [a, b])
    expect(b.text()).toBe('hello world')

    // Partition; both edit offline.
    ta.disconnect()
    b.doc.getText('t').insert(5, ' brave')
    b.doc.getMap('shapes').set('s9', 9)
    a.doc.getText('t').insert(11, '!')
    const before = inspectDoc({
      snapshot: null,
      updates: [Y.encodeStateAsUpdate(a.doc)],
      clock: 0,
      byteLength: 0,
      meta: {},
    })
    const record = await a.epochs.start()
    expect(a.session.epoch).toBe(record.id)
    // A edits in the new epoch too.
    a.doc.getText('t').insert(0, '> ')

    ta.connect()
    await settle(net, [a, b])

    expect(b.session.epoch).toBe(record.id)
    expect(b.text()).toBe(a.text())
    expect(a.text()).toBe('> hello brave world!')
    expect(a.doc.getMap('shapes').toJSON()).toEqual({ s0: 45, s1: 46, s2: 47, s3: 48, s4: 49, s9: 9 })
    expect(b.doc.getMap('shapes').toJSON()).toEqual(a.doc.getMap('shapes').toJSON())
    const after = inspectDoc({
      snapshot: null,
      updates: [Y.encodeStateAsUpdate(a.doc)],
      clock: 0,
      byteLength: 0,
      meta: {},
    })
    expect(after.deletedItems).toBeLessThan(before.deletedItems / 10)
    expect([...a.errors, ...b.errors, ...a.blocked, ...b.blocked]).toEqual([])

    // Both stores hold the new epoch and reload to the same content.
    for (const p of [a, b]) {
      const stored = await p.store.load(DOC)
      expect(stored && readEpochRecord(stored.meta)).toMatchObject({ ok: true, record: { id: record.id } })
      await p.restart()
      expect(p.session.epoch).toBe(record.id)
      expect(p.text()).toBe('> hello brave world!')
    }
  })

  it('COMPACT-5.7 updates are never exchanged across epochs; a peer waits in "syncing" until it switched', async () => {
    const net = new MemoryNetwork()
    const a = await new Peer('a').open()
    const b = await new Peer('b').open()
    const [ta] = link(net, a, b)
    a.doc.getText('t').insert(0, 'abc')
    await settle(net, [a, b])
    ta.disconnect()
    await a.epochs.start()
    // b does not follow: it stays in its epoch and receives no new-epoch update.
    const bSession = b.session
    b.epochs.destroy()
    ta.connect()
    net.flush()
    a.doc.getText('t').insert(3, 'd')
    net.flush()
    expect(b.text()).toBe('abc')
    expect(bSession.synced).toBe(false)
    expect(a.session.synced).toBe(false)
  })

  it('COMPACT-5.1 a peer that lacks part of the base catches up from the old epoch kept by the starter', async () => {
    const net = new MemoryNetwork()
    const a = await new Peer('a').open()
    const b = await new Peer('b').open()
    const c = await new Peer('c').open()
    const [ab] = link(net, a, b)
    link(net, a, c)
    a.doc.getText('t').insert(0, 'base')
    await settle(net, [a, b, c])
    ab.disconnect()
    // c edits, a receives it, b never does before the reset.
    c.doc.getText('t').insert(4, '+c')
    await settle(net, [a, b, c])
    b.doc.getText('t').insert(0, 'b:')
    await a.epochs.start()
    await settle(net, [a, b, c])
    ab.connect()
    await settle(net, [a, b, c])
    for (const p of [b, c]) expect(p.session.epoch).toBe(a.session.epoch)
    expect(a.text()).toBe('b:base+c')
    expect(b.text()).toBe(a.text())
    expect(c.text()).toBe(a.text())
    expect([...a.blocked, ...b.blocked, ...c.blocked]).toEqual([])
  })

  it('COMPACT-6.2 a peer two epochs behind walks the lineage, also after the starter restarted', async () => {
    const net = new MemoryNetwork()
    const a = await new Peer('a').open()
    const b = await new Peer('b').open()
    const [ab] = link(net, a, b)
    a.doc.getText('t').insert(0, 'one')
    await settle(net, [a, b])
    ab.disconnect()
    b.doc.getText('t').insert(3, ' two')
    const first = await a.epochs.start()
    a.doc.getText('t').insert(0, '0 ')
    const second = await a.epochs.start()
    expect(second.parent).toBe(first.id)
    // The starter restarts: old epochs now come from its store's archives.
    await a.restart()
    expect(await a.store.load(epochArchiveId(DOC, first.parent))).not.toBeNull()
    ab.connect()
    await settle(net, [a, b])
    expect(b.session.epoch).toBe(second.id)
    expect(a.text()).toBe('0 one two')
    expect(b.text()).toBe(a.text())
  })

  it('COMPACT-2.1 the policy: many tombstones, far more than live content', () => {
    expect(shouldStartEpoch({ deletedItems: 400_000, liveItems: 3_000 })).toBe(true)
    expect(shouldStartEpoch({ deletedItems: 90_000, liveItems: 10 })).toBe(false)
    expect(shouldStartEpoch({ deletedItems: 200_000, liveItems: 100_000 })).toBe(false)
    const doc = new Y.Doc()
    const m = doc.getMap<number>('m')
    for (let i = 0; i < 30; i++) m.set('x', i)
    doc.getText('t').insert(0, 'abc')
    expect(countItems(doc)).toEqual({ liveItems: 4, deletedItems: 29 })
  })

  it('COMPACT-2.1 the authority starts an epoch by itself once a log compaction finds the tombstones past the policy', async () => {
    const net = new MemoryNetwork()
    const compactor = new Compactor({ policy: { maxUpdates: 20, minTailRatio: 0 } })
    const autoStart = { minDeletedItems: 200, deletedPerLive: 10, minIntervalMs: 0 }
    const a = await new Peer('a', new MemoryDocStore(), { compactor, autoStart }).open()
    const b = await new Peer('b').open()
    link(net, a, b)
    const started = new Promise<string>((resolve) =>
      a.epochs.on('epoch-changed', ({ record }) => resolve(record.id)),
    )
    const shapes = a.doc.getMap<number>('shapes')
    for (let i = 0; i < 300 && a.session.epoch === '0'; i++) {
      shapes.set(`s${i % 3}`, i)
      await a.persistence.flushed()
    }
    const id = await started
    await settle(net, [a, b])
    expect(b.session.epoch).toBe(id)
    expect(countItems(a.doc).deletedItems).toBeLessThan(20)
    expect(b.doc.getMap('shapes').toJSON()).toEqual(a.doc.getMap('shapes').toJSON())
  })

  it('SYNC-9.7 a peer that joined fresh after a reset fetches the old epoch to serve a peer that comes back through it', async () => {
    const net = new MemoryNetwork()
    const a = await new Peer('a').open()
    const b = await new Peer('b').open()
    const c = await new Peer('c').open()
    const [ac, ca] = link(net, a, c)
    a.doc.getText('t').insert(0, 'shared')
    await settle(net, [a, c])
    net.cut(ac, ca)
    c.doc.getText('t').insert(6, ' + offline')
    const record = await a.epochs.start()
    // b joins after the reset: empty, it switches without any of the old epoch.
    link(net, a, b)
    await settle(net, [a, b])
    expect(b.session.epoch).toBe(record.id)
    // c can reach the others only through b, which must fetch the old epoch from a to hand c its catch-up.
    link(net, b, c)
    await settle(net, [a, b, c])
    expect(c.session.epoch).toBe(record.id)
    for (const p of [a, b, c]) expect(p.text()).toBe('shared + offline')
    expect([...a.blocked, ...b.blocked, ...c.blocked, ...a.errors, ...b.errors, ...c.errors]).toEqual([])
    // b kept the fetched epoch in its store's archive (it serves it again after a restart).
    expect(await b.store.load(epochArchiveId(DOC, record.parent))).not.toBeNull()
  })

  it('SYNC-9.3 an offer without catch-up to a peer that cannot rebase is answered once, then blocked (no loop)', async () => {
    const old = new Y.Doc()
    old.getText('t').insert(0, 'hello')
    const bDoc = new Y.Doc()
    Y.applyUpdate(bDoc, Y.encodeStateAsUpdate(old))
    old.getText('t').insert(5, ' world') // part of the base that B never got
    bDoc.getText('t').insert(0, '>') // B's own offline edit
    const { record, doc } = startEpoch(old)
    const a = new SyncSession({ doc, epoch: record }) // no lineage: it cannot give a catch-up
    const epochs = new EpochManager()
    const b = new SyncSession({ doc: bDoc, epochLineage: epochs.lineage })
    epochs.bind(b)
    let offers = 0
    const blocked: string[] = []
    b.on('epoch-offer', () => offers++)
    epochs.on('blocked', ({ reason }) => blocked.push(reason))
    const net = new MemoryNetwork()
    const [ta, tb] = [net.transport('a'), net.transport('b')]
    net.link(ta, tb)
    a.addTransport(ta)
    b.addTransport(tb)
    ta.connect()
    tb.connect()
    for (let i = 0; i < 20 && (i === 0 || net.pending > 0); i++) {
      net.flush()
      await epochs.settled()
    }
    expect(net.pending).toBe(0)
    expect(offers).toBe(2)
    expect(blocked).toEqual(['missing-base'])
    expect(b.epoch).toBe('0')
    a.destroy()
    b.destroy()
  })

  it('SYNC-9.7 a malformed epoch request drops the path with an error event, never an unhandled rejection', async () => {
    const net = new MemoryNetwork()
    const a = await new Peer('a').open()
    a.doc.getText('t').insert(0, 'hello')
    await a.epochs.start()
    await a.restart() // old epochs now come from the store's archive (an asynchronous lineage)
    const [ta, tm] = [net.transport('a'), net.transport('mallory')]
    net.link(ta, tm)
    a.session.addTransport(ta)
    ta.connect()
    tm.connect()
    tm.send(
      encodeSyncStep1(Y.encodeStateVector(new Y.Doc()), {
        version: PROTOCOL_VERSION,
        features: Feature.Chunk,
        maxMessageSize: 1 << 20,
        epoch: a.session.epoch,
      }),
    )
    tm.send(encodeEpochRequest('0', Uint8Array.of(0xff, 0xff, 0xff)))
    await settle(net, [a])
    expect(a.errors.some((e) => e.includes('malformed epoch request'))).toBe(true)
    expect(a.session.paths).toHaveLength(0)
  })

  it('COMPACT-7.4 presence follows the switch: a new awareness on the new document, the old client gone at peers', async () => {
    const net = new MemoryNetwork()
    const a = await new Peer('a').open()
    const b = await new Peer('b').open()
    const [ta] = link(net, a, b)
    a.doc.getText('t').insert(0, 'hello')
    b.session.awareness.setLocalState({ name: 'ben' })
    await settle(net, [a, b])
    const oldId = b.session.awareness.clientID
    expect(a.session.awareness.getStates().get(oldId)).toEqual({ name: 'ben' })
    ta.disconnect()
    await a.epochs.start()
    ta.connect()
    await settle(net, [a, b])
    expect(b.session.epoch).toBe(a.session.epoch)
    const aw = b.session.awareness
    expect(aw.doc).toBe(b.doc)
    expect(aw.clientID).toBe(b.doc.clientID)
    expect(aw.getLocalState()).toEqual({ name: 'ben' })
    expect(a.session.awareness.getStates().get(aw.clientID)).toEqual({ name: 'ben' })
    expect(a.session.awareness.getStates().has(oldId)).toBe(false)
  })
})

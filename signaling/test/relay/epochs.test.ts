import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { SqliteDocStore } from '@weft/sqlite-store'
import {
  CloseCode,
  applyStoredDoc,
  docId,
  openDocument,
  type EpochRecord,
  type CompactOptions,
  type CompactResult,
  type DocId,
  type DocStore,
} from '@weft/core'
import {
  EPOCH_CHILD_ID_META_KEY,
  EPOCH_CHILD_META_KEY,
  countItems,
  encodeEpochRecord,
  epochArchiveId,
  readEpochRecord,
  startEpoch,
} from '@weft/core/epochs'
import { encodeEpochOffer } from '@weft/core/protocol'
import { MemoryDocStore } from '@weft/core/testing'
import { parseServeArgs, serveHelp } from '../../src/cli/parseServeArgs.js'
import { stockClient, textEquals, type StockClient } from '../helpers/stockClient.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { GatedStore, deferred } from '../helpers/GatedStore.js'
import { RelayTransport } from '../helpers/RelayTransport.js'
import { TestClient } from '../helpers/TestClient.js'
import { WeftPeer, once } from '../helpers/WeftPeer.js'
import { WeftTestClient } from '../helpers/WeftTestClient.js'

const servers: TestServer[] = []
const stores: DocStore[] = []
const peers: WeftPeer[] = []
const stock: StockClient[] = []
const raw: TestClient[] = []

afterEach(async () => {
  for (const c of stock.splice(0)) c.destroy()
  await Promise.all(raw.splice(0).map((c) => c.close()))
  await Promise.all(peers.splice(0).map((p) => p.close()))
  await Promise.all(servers.splice(0).map((s) => s.server.close()))
  await Promise.all(stores.splice(0).map((s) => s.close()))
})

/**
 * Holds the relay's `persistEpoch` (the compaction that writes an epoch) until released, optionally failing it as a
 * crash before that atomic step would: nothing of it is stored.
 */
class SwitchGate extends GatedStore {
  #gate: { entered: () => void; release: Promise<void>; fail: boolean } | null = null

  /** Arms the gate; `entered` resolves when the relay reaches `persistEpoch`, which waits for `release()`. */
  arm(fail = false): { entered: Promise<void>; release: () => void } {
    const entered = deferred()
    const release = deferred()
    this.#gate = { entered: entered.resolve, release: release.promise, fail }
    return { entered: entered.promise, release: release.resolve }
  }

  override async compact(
    id: DocId,
    snapshot: Uint8Array,
    through: number,
    options?: CompactOptions,
  ): Promise<CompactResult> {
    const gate = this.#gate
    if (gate && options?.meta?.['epoch'] !== undefined) {
      this.#gate = null
      gate.entered()
      await gate.release
      if (gate.fail) throw new Error('simulated crash before the epoch was stored')
    }
    return super.compact(id, snapshot, through, options)
  }
}

/** A relay on `store` (kept across restarts: closing the server leaves the store open). */
const serve = async (store: DocStore, options: Parameters<typeof startTestServer>[0] = {}) => {
  const srv = await startTestServer({ ...options, store })
  servers.push(srv)
  return srv
}
const newStore = () => {
  const store = new SqliteDocStore({ path: ':memory:' })
  stores.push(store)
  return store
}
const peer = async (room: string) => {
  const p = await new WeftPeer(room).open()
  peers.push(p)
  return p
}
const stockAt = (srv: TestServer, room: string, doc?: Y.Doc) => {
  const c = stockClient(`${srv.ws}/relay`, room, doc ? { doc } : {})
  stock.push(c)
  return c
}

/** The stored document as a Y.Doc (snapshot + tail), with its meta. */
const loadStored = async (store: DocStore, room: string) => {
  const stored = await store.load(docId(room))
  const doc = new Y.Doc({ gc: false })
  if (stored) applyStoredDoc(doc, stored, null)
  return { doc, meta: stored?.meta ?? {} }
}

/** Resolves once `doc`'s map `name` equals `expected`. */
const mapEquals = (doc: Y.Doc, expected: Record<string, unknown>, name = 'shapes'): Promise<void> => {
  const map = doc.getMap(name)
  const same = () => JSON.stringify(map.toJSON()) === JSON.stringify(expected)
  if (same()) return Promise.resolve()
  return new Promise((resolve) => {
    const check = () => {
      if (!same()) return
      map.unobserve(check)
      resolve()
    }
    map.observe(check)
  })
}

/** The code of the stock client's next close; it then stops reconnecting (it would be refused again). */
const nextClose = (c: StockClient): Promise<number> =>
  new Promise((resolve) => {
    const on = (event: CloseEvent | null) => {
      c.provider.off('connection-close', on)
      c.provider.shouldConnect = false
      resolve(event?.code ?? 0)
    }
    c.provider.on('connection-close', on)
  })

/** A whiteboard-like history: 5 shapes, each moved many times, and a line of text. */
const draw = (doc: Y.Doc, moves = 50) => {
  const shapes = doc.getMap<number>('shapes')
  for (let move = 0; move < moves; move++) doc.transact(() => shapes.set(`s${move % 5}`, move))
  doc.getText('t').insert(0, 'hello world')
}
const DRAWN = { s0: 45, s1: 46, s2: 47, s3: 48, s4: 49 }

/** A starts an epoch while connected to the relay; resolves once the relay followed it and synced A again. */
const startThroughRelay = async (a: WeftPeer) => {
  const synced = a.nextSynced()
  const record = await a.epochs.start()
  await synced
  return record
}

describe('epochs on the relay (RELAY-EPOCH)', () => {
  it('RELAY-EPOCH-4: a client starts an epoch, the relay follows; an offline client comes back, catches up and loses nothing; stock clients get the new epoch', async () => {
    const store = newStore()
    const srv = await serve(store)
    const a = await peer('board')
    const b = await peer('board')
    await a.connect(srv.ws)
    await b.connect(srv.ws)
    draw(a.doc)
    await textEquals(b.doc, 'hello world')

    // B goes offline and edits; A edits and resets the history through the relay.
    b.disconnect()
    b.doc.getText('t').insert(5, ' brave')
    b.doc.getMap('shapes').set('s9', 9)
    a.doc.getText('t').insert(11, '!')
    const record = await startThroughRelay(a)
    expect(a.session.epoch).toBe(record.id)
    a.doc.getText('t').insert(0, '> ')

    // B reconnects: the relay offers the epoch with the old-epoch catch-up from its archive.
    const switched = b.nextEpoch()
    await b.connect(srv.ws)
    expect((await switched).id).toBe(record.id)
    const expected = '> hello brave world!'
    await Promise.all([textEquals(a.doc, expected), textEquals(b.doc, expected)])
    await mapEquals(a.doc, { ...DRAWN, s9: 9 })
    expect(b.doc.getMap('shapes').toJSON()).toEqual({ ...DRAWN, s9: 9 })
    expect([...a.errors, ...b.errors, ...a.blocked, ...b.blocked]).toEqual([])

    // A fresh stock client joins the new epoch and sees everything.
    const s = stockAt(srv, 'board')
    await s.synced()
    await textEquals(s.doc, expected)
    await mapEquals(s.doc, { ...DRAWN, s9: 9 })
    expect(countItems(s.doc).deletedItems).toBeLessThan(10)

    // Stored: the new epoch, without the old history; the old epoch archived, naming the record that replaced it
    // (stored once, with the document: COMPACT-6.2c).
    await srv.server.close()
    const stored = await loadStored(store, 'board')
    expect(readEpochRecord(stored.meta)).toMatchObject({ ok: true, record: { id: record.id } })
    expect(stored.doc.getText('t').toString()).toBe(expected)
    expect(countItems(stored.doc).deletedItems).toBeLessThan(10)
    const archive = await store.load(epochArchiveId(docId('board'), '0'))
    expect(archive?.meta[EPOCH_CHILD_ID_META_KEY]).toBe(record.id)
    expect(archive?.meta[EPOCH_CHILD_META_KEY]).toBeUndefined()
  })

  it('RELAY-EPOCH-8: a client that joined after a reset asks for the old epoch (SYNC-9.7) and the relay answers from its archive', async () => {
    const store = newStore()
    const srv = await serve(store)
    const a = await peer('board')
    await a.connect(srv.ws)
    draw(a.doc)
    const record = await startThroughRelay(a)
    // C joins fresh: it switches from an empty document and keeps nothing of epoch "0".
    const c = await peer('board')
    const switched = c.nextEpoch()
    await c.connect(srv.ws)
    expect((await switched).id).toBe(record.id)
    const archived = new Promise<{ record: EpochRecord; catchUp: Uint8Array }>((resolve) =>
      c.session.on('epoch-archive', resolve),
    )
    c.session.requestEpoch('0')
    const answer = await archived
    expect(answer.record.id).toBe(record.id)
    const old = new Y.Doc()
    Y.applyUpdate(old, answer.catchUp)
    expect(old.getText('t').toString()).toBe('hello world')
    // The answer holds the whole base of the epoch that replaced "0".
    for (const [client, clock] of Y.decodeSnapshotV2(record.base).sv) {
      expect(Y.getState(old.store, client)).toBeGreaterThanOrEqual(clock)
    }
  })

  it('RELAY-EPOCH-3: after a restart the relay is in the new epoch and serves an old-epoch client from the archive', async () => {
    const store = newStore()
    const first = await serve(store)
    const a = await peer('doc')
    const b = await peer('doc')
    await a.connect(first.ws)
    await b.connect(first.ws)
    a.doc.getText('t').insert(0, 'one')
    await textEquals(b.doc, 'one')
    b.disconnect()
    b.doc.getText('t').insert(3, ' two')
    const record = await startThroughRelay(a)
    a.doc.getText('t').insert(0, '0 ')
    await textEquals(stockAt(first, 'doc').doc, '0 one')
    a.disconnect()
    await first.server.close()

    const second = await serve(store)
    const switched = b.nextEpoch()
    await b.connect(second.ws)
    expect((await switched).id).toBe(record.id)
    await textEquals(b.doc, '0 one two')
    // B's re-applied change reached the relay: a fresh stock client sees it.
    const s = stockAt(second, 'doc')
    await textEquals(s.doc, '0 one two')
    expect([...b.errors, ...b.blocked]).toEqual([])
  })

  it('RELAY-EPOCH-3: a client two epochs behind walks the relay lineage, one offer per epoch', async () => {
    const srv = await serve(newStore())
    const a = await peer('walk')
    const b = await peer('walk')
    await a.connect(srv.ws)
    await b.connect(srv.ws)
    a.doc.getText('t').insert(0, 'one')
    await textEquals(b.doc, 'one')
    b.disconnect()
    b.doc.getText('t').insert(3, ' two')
    const first = await startThroughRelay(a)
    a.doc.getText('t').insert(0, '0 ')
    const second = await startThroughRelay(a)
    expect(second.parent).toBe(first.id)
    const epochs: string[] = []
    const walked = new Promise<void>((resolve) =>
      b.epochs.on('epoch-changed', ({ record }) => {
        epochs.push(record.id)
        if (record.id === second.id) resolve()
      }),
    )
    await b.connect(srv.ws)
    await walked
    await Promise.all([textEquals(b.doc, '0 one two'), textEquals(a.doc, '0 one two')])
    expect(epochs).toEqual([first.id, second.id])
    expect([...b.errors, ...b.blocked]).toEqual([])
  })

  it('RELAY-EPOCH-3: a new device (default mode, empty store) reaches the newest of three epochs in one open (COMPACT-8.1b)', async () => {
    // Outside review R4 (2026-12-08): it took the first epoch in place, then deferred the second (status syncing,
    // waitingEpoch one behind the relay, old content) until reopened, one epoch per open.
    const srv = await serve(newStore())
    const a = await peer('fresh')
    await a.connect(srv.ws)
    let newest: EpochRecord | null = null
    for (let round = 0; round < 3; round++) {
      a.doc.getText('t').insert(a.doc.getText('t').length, `line ${round};`)
      newest = await startThroughRelay(a)
    }
    expect(newest?.seq).toBe(3)
    const handle = await openDocument({ docId: 'fresh', store: new MemoryDocStore() })
    const doc = handle.doc
    const events: string[] = []
    // Without COMPACT-8.1b the next epoch waits for a reopen: fail on that instead of waiting for text that never comes.
    const deferredEpoch = new Promise<never>((_resolve, reject) =>
      handle.on('epoch-available', ({ record }) => reject(new Error(`epoch ${record.seq} deferred`))),
    )
    handle.on('epoch-changed', () => events.push('epoch-changed'))
    const transport = new RelayTransport(`${srv.ws}/relay/fresh`)
    handle.addTransport(transport, { relay: true })
    await transport.connect()
    await Promise.race([textEquals(doc, 'line 0;line 1;line 2;'), deferredEpoch])
    await handle.session.whenSynced()
    expect(handle.session.epoch).toBe(newest?.id)
    expect(handle.doc).toBe(doc)
    expect(handle.waitingEpoch).toBeNull()
    expect(events).toEqual([])
    doc.getText('t').insert(0, 'new device;')
    await textEquals(a.doc, 'new device;line 0;line 1;line 2;')
    await handle.flushed()
    handle.session.removeTransport(transport)
    transport.destroy()
    await handle.destroy()
  })

  it('RELAY-EPOCH-3: a stock client holding pre-reset state is refused with StaleEpoch and nothing of it is stored', async () => {
    const store = newStore()
    const srv = await serve(store)
    const a = await peer('room')
    await a.connect(srv.ws)
    a.doc.getText('t').insert(0, 'before')
    const old = stockAt(srv, 'room')
    await textEquals(old.doc, 'before')
    const oldState = Y.encodeStateAsUpdate(old.doc)

    // The stock client in the room holds old-epoch state: the switch closes it.
    const closedInSwitch = nextClose(old)
    await startThroughRelay(a)
    expect(await closedInSwitch).toBe(CloseCode.StaleEpoch)

    // A stock client that comes with old-epoch state (plus an offline edit) is refused.
    const stale = new Y.Doc()
    Y.applyUpdate(stale, oldState)
    stale.getText('t').insert(0, 'STALE ')
    const late = stockAt(srv, 'room', stale)
    expect(await nextClose(late)).toBe(CloseCode.StaleEpoch)

    // A fresh stock client is in the epoch and syncs both ways.
    const fresh = stockAt(srv, 'room')
    await fresh.synced()
    expect(fresh.doc.getText('t').toString()).toBe('before')
    fresh.doc.getText('t').insert(6, '!')
    await textEquals(a.doc, 'before!')

    await srv.server.close()
    expect((await loadStored(store, 'room')).doc.getText('t').toString()).toBe('before!')
  })

  it("COMPACT-7.1: a text's final newline survives a reset, for a stock client and in the relay's store", async () => {
    // Found by an outside review: every reset removed one trailing "\n" of every text ending in one.
    const store = newStore()
    const srv = await serve(store)
    const a = await peer('room')
    await a.connect(srv.ws)
    a.doc.getText('t').insert(0, 'line 1\n')
    await textEquals(stockAt(srv, 'room').doc, 'line 1\n')
    await startThroughRelay(a)
    const fresh = stockAt(srv, 'room')
    await fresh.synced()
    expect(fresh.doc.getText('t').toString()).toBe('line 1\n')
    await srv.server.close()
    expect((await loadStored(store, 'room')).doc.getText('t').toString()).toBe('line 1\n')
  })

  it('RELAY-EPOCH-4: updates that arrive during a switch are forwarded, held, and re-applied onto the new epoch', async () => {
    const store = new SwitchGate(newStore())
    const srv = await serve(store)
    const a = await peer('held')
    await a.connect(srv.ws)
    a.doc.getText('t').insert(0, 'abc')
    const s = stockAt(srv, 'held')
    const t = stockAt(srv, 'held')
    await Promise.all([textEquals(s.doc, 'abc'), textEquals(t.doc, 'abc')])
    const gate = store.arm()
    const synced = a.nextSynced()
    const closed = [nextClose(s), nextClose(t)]
    await a.epochs.start()
    await gate.entered
    // The relay is storing the switch: a stock client's edit is forwarded in the old epoch (T gets it) but held.
    s.doc.getText('t').insert(0, 'X')
    await textEquals(t.doc, 'Xabc')
    gate.release()
    await synced
    expect(await Promise.all(closed)).toEqual([CloseCode.StaleEpoch, CloseCode.StaleEpoch])
    await textEquals(a.doc, 'Xabc')
    await srv.server.close()
    const stored = await loadStored(store, 'held')
    expect(stored.meta['epoch']).toBe(a.session.epoch)
    expect(stored.doc.getText('t').toString()).toBe('Xabc')
  })

  it('RELAY-EPOCH-4: a crash before the epoch is stored leaves the old epoch with every acknowledged update; the switch is redone', async () => {
    const store = new SwitchGate(newStore())
    const first = await serve(store)
    const a = await peer('crash')
    await a.connect(first.ws)
    a.doc.getText('t').insert(0, 'abc')
    const s = stockAt(first, 'crash')
    await textEquals(s.doc, 'abc')
    const gate = store.arm(true)
    const record = await a.epochs.start()
    await gate.entered
    s.doc.getText('t').insert(3, '!')
    const t = stockAt(first, 'crash')
    gate.release()
    // The switch failed: the relay is still in epoch 0 and stored the held edit there.
    await textEquals(t.doc, 'abc!')
    a.disconnect()
    await first.server.close()
    const stored = await loadStored(store, 'crash')
    expect(stored.meta['epoch']).toBeUndefined()
    expect(stored.doc.getText('t').toString()).toBe('abc!')

    // After a restart A offers its epoch again and the relay follows it, keeping the stock client's edit.
    const second = await serve(store)
    const synced = a.nextSynced()
    await a.connect(second.ws)
    await synced
    expect(a.session.epoch).toBe(record.id)
    await textEquals(a.doc, 'abc!')
    await second.server.close()
    expect((await loadStored(store, 'crash')).meta['epoch']).toBe(record.id)
  })

  it('RELAY-EPOCH-5: as epoch authority the relay starts an epoch itself on a whiteboard-like history', async () => {
    const store = newStore()
    const srv = await serve(store, {
      relay: {
        compaction: { maxUpdates: 5, minTailRatio: 0 },
        epochs: { autoStart: { minDeletedItems: 200, deletedPerLive: 10, minIntervalMs: 0 } },
      },
    })
    const a = await peer('wb')
    await a.connect(srv.ws)
    const changed = a.nextEpoch()
    const shapes = () => a.doc.getMap<number>('shapes')
    let round = 0
    for (; round < 100 && a.session.epoch === '0'; round++) {
      a.doc.transact(() => {
        for (let i = 0; i < 10; i++) shapes().set(`s${i % 3}`, round * 10 + i)
      })
      await Promise.race([once(a.session, 'ack'), changed])
    }
    const record = await changed
    expect(record.parent).toBe('0')
    expect(round).toBeLessThan(100)
    const content = shapes().toJSON()
    expect(Object.keys(content)).toEqual(['s0', 's1', 's2'])

    const s = stockAt(srv, 'wb')
    await s.synced()
    await mapEquals(s.doc, content)
    shapes().set('s0', -1)
    await mapEquals(s.doc, { ...content, s0: -1 })
    expect(countItems(s.doc).deletedItems).toBeLessThan(20)
    await srv.server.close()
    const stored = await loadStored(store, 'wb')
    expect(stored.meta['epoch']).toBe(record.id)
    expect(countItems(stored.doc).deletedItems).toBeLessThan(20)
  })

  it('RELAY-EPOCH-4: a malformed, losing or unrelated epoch offer changes nothing and the server carries on', async () => {
    const store = newStore()
    const srv = await serve(store)
    const writer = stockAt(srv, 'x')
    await writer.synced()
    writer.doc.getText('t').insert(0, 'content')

    // A record that does not decode closes the connection as malformed.
    const bad = await WeftTestClient.open(`${srv.ws}/relay/x`)
    raw.push(bad.client)
    await bad.next('sync-step2')
    bad.client.send(encodeEpochOffer(new Uint8Array([1, 2, 3]), new Uint8Array(0)))
    expect((await bad.client.closed).code).toBe(CloseCode.MalformedMessage)

    // A valid record with a malformed catch-up too.
    const c = await WeftTestClient.open(`${srv.ws}/relay/x`)
    raw.push(c.client)
    await c.next('sync-step2')
    await textEquals(c.doc, 'content')
    // The stock writer leaves (it would hold old-epoch state after the switch below).
    writer.provider.disconnect()
    const child = startEpoch(c.doc).record
    c.client.send(encodeEpochOffer(encodeEpochRecord(child), new Uint8Array([9, 9, 9])))
    expect((await c.client.closed).code).toBe(CloseCode.MalformedMessage)

    // A record that wins but does not descend from the relay's epoch is ignored; the connection stays open.
    const d = await WeftTestClient.open(`${srv.ws}/relay/x`)
    raw.push(d.client)
    expect((await d.next('sync-step1')).hello?.epoch).toBe('0')
    await d.next('sync-step2')
    const grandchild = startEpoch(c.doc, { id: '1-0123456789abcdef', seq: 1 }).record
    d.client.send(encodeEpochOffer(encodeEpochRecord(grandchild), new Uint8Array(0)))
    // A proper child is followed: the relay greets again in the new epoch.
    d.client.send(encodeEpochOffer(encodeEpochRecord(child), new Uint8Array(0)))
    const greeting = await d.next('sync-step1')
    expect(greeting.hello?.epoch).toBe(child.id)
    // A sibling of the current epoch (whichever wins) and the current epoch itself are ignored.
    const other = new Y.Doc()
    Y.applyUpdate(other, Y.encodeStateAsUpdate(c.doc))
    other.getText('t').insert(0, 'other ')
    const sibling = startEpoch(other).record
    expect(sibling.id).not.toBe(child.id)
    d.client.send(encodeEpochOffer(encodeEpochRecord(sibling), new Uint8Array(0)))
    d.client.send(encodeEpochOffer(encodeEpochRecord(child), new Uint8Array(0)))
    // The server carries on: a fresh stock client gets the content in the followed epoch.
    const s = stockAt(srv, 'x')
    await s.synced()
    await textEquals(s.doc, 'content')
    expect(d.client.ws.readyState).toBe(d.client.ws.OPEN)
    await srv.server.close()
    expect((await loadStored(store, 'x')).meta['epoch']).toBe(child.id)
  })

  it('RELAY-EPOCH-6: an epoch archive is not a room', async () => {
    const srv = await serve(newStore())
    const c = await TestClient.open(`${srv.ws}/relay/${encodeURIComponent('x~epoch~0')}`)
    raw.push(c)
    expect((await c.closed).code).toBe(CloseCode.Forbidden)
  })

  it('RELAY-EPOCH-5: weft serve --epoch-reset (or WEFT_EPOCH_RESET=1) turns on auto-start; listed in --help', () => {
    const flag = parseServeArgs(['--epoch-reset'], {})
    const env = parseServeArgs([], { WEFT_EPOCH_RESET: '1' })
    expect(flag.ok && !flag.help && flag.config.epochReset).toBe(true)
    expect(env.ok && !env.help && env.config.epochReset).toBe(true)
    const off = parseServeArgs([], {})
    expect(off.ok && !off.help && off.config.epochReset).toBe(false)
    expect(parseServeArgs(['--epoch-reset', '--no-relay'], {}).ok).toBe(false)
    expect(serveHelp()).toMatch(/--epoch-reset[\s\S]*WEFT_EPOCH_RESET/)
  })
})

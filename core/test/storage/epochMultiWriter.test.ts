import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import type { EpochManager, SyncSession } from '../../src/index.js'
import {
  DocPersistence,
  WeftErrorCode,
  applyStoredDoc,
  docId,
  inspectDoc,
  type DocId,
} from '../../src/index.js'
import type { AppendOptions, CompactOptions, CompactResult, StoredDoc } from '../../src/storage/DocStore.js'
import { MemoryDocStore, MemoryNetwork, openEpochPeer } from '../../src/testing/index.js'

const DOC = docId('board')

/**
 * The stores before COMPACT-6.6 was closed: appends are never epoch-checked and compactions are neither exact nor
 * epoch-checked. Used as a control: the scenario must find old-epoch updates in its tail.
 */
class UnguardedStore extends MemoryDocStore {
  override append(id: DocId, update: Uint8Array, _options?: AppendOptions): Promise<number> {
    return super.append(id, update)
  }
  override compact(
    id: DocId,
    snapshot: Uint8Array,
    through: number,
    options?: CompactOptions,
  ): Promise<CompactResult> {
    return super.compact(id, snapshot, through, options?.meta ? { meta: options.meta } : {})
  }
}

/** One browser tab: its own doc, persistence, session and epoch manager, sharing the store with the other tabs. */
class Tab {
  doc!: Y.Doc
  persistence!: DocPersistence
  epochs!: EpochManager
  session!: SyncSession
  readonly errors: string[] = []
  readonly storeErrors: string[] = []
  /** Every update the tab's documents emitted in the initial epoch "0". */
  readonly oldEpochUpdates: Uint8Array[] = []

  constructor(
    readonly name: string,
    readonly store: MemoryDocStore,
  ) {}

  async open(): Promise<this> {
    const doc = new Y.Doc()
    doc.on('update', (u: Uint8Array) => this.oldEpochUpdates.push(u))
    ;({
      persistence: this.persistence,
      epochs: this.epochs,
      session: this.session,
    } = await openEpochPeer({ doc, store: this.store, docId: DOC, compactor: null }))
    this.persistence.on('error', ({ error }) => this.storeErrors.push(error.code))
    this.doc = doc
    this.epochs.on('epoch-changed', ({ doc: next }) => (this.doc = next))
    this.epochs.on('error', ({ error }) => this.errors.push(error.code))
    this.session.on('error', ({ error }) => this.errors.push(error.code))
    return this
  }

  text(): string {
    return this.doc.getText('t').toString()
  }

  type(at: number | 'end', s: string): void {
    const t = this.doc.getText('t')
    t.insert(at === 'end' ? t.length : at, s)
  }
}

/** Links two tabs as a BroadcastChannel would. */
const link = (net: MemoryNetwork, a: Tab, b: Tab): void => {
  const ta = net.transport(`${a.name}>${b.name}`)
  const tb = net.transport(`${b.name}>${a.name}`)
  net.link(ta, tb)
  a.session.addTransport(ta)
  b.session.addTransport(tb)
  ta.connect()
  tb.connect()
}

/** Delivers messages and lets switches and writes run until nothing moves; `flushed()` may reject meanwhile. */
const settle = async (net: MemoryNetwork, tabs: Tab[]): Promise<void> => {
  for (let i = 0; i < 20; i++) {
    net.flush()
    await Promise.all(tabs.map((t) => t.epochs.settled()))
    await Promise.allSettled(tabs.map((t) => t.persistence.flushed()))
    if (net.pending === 0) return
  }
}

/** What a fresh open of the store finds: its text, epoch, and the tail updates that belong to the old epoch. */
const inspectStore = async (store: MemoryDocStore, oldUpdates: readonly Uint8Array[]) => {
  const stored = (await store.load(DOC)) as StoredDoc
  const old = new Set(oldUpdates.map((u) => u.toString()))
  const oldInTail = stored.updates.filter((u) => old.has(u.toString())).length
  // Applied as the next open applies it: an old-epoch update has no place in the new epoch and waits as pending.
  const check = new Y.Doc()
  applyStoredDoc(check, stored, null)
  const pending = check.store.pendingStructs !== null || check.store.pendingDs !== null
  const doc = new Y.Doc()
  const p = await DocPersistence.open({ doc, store, docId: DOC, compactor: null })
  const text = doc.getText('t').toString()
  await p.destroy()
  return { text, epoch: inspectDoc(stored).epoch, oldInTail, pending }
}

/**
 * Two tabs, A (the starter) and B, one store. B appends to the old epoch right before A's switch (window 1: after A's
 * last clock, before A's compaction) and right after it (window 2: the switch is stored, B has not heard of it).
 */
const scenario = async (store: MemoryDocStore) => {
  const net = new MemoryNetwork()
  const a = await new Tab('a', store).open()
  const b = await new Tab('b', store).open()
  link(net, a, b)
  a.type(0, 'hello')
  await settle(net, [a, b])
  expect(b.text()).toBe('hello')

  // Window 1: B's append lands after A's last clock; nothing is delivered before A's switch.
  b.type('end', ' before')
  const record = await a.epochs.start()
  // Window 2: B, still in epoch "0", appends after the switch was stored.
  b.type('end', ' after')
  await Promise.allSettled([b.persistence.flushed()])
  // A edits in the new epoch.
  a.type(0, '> ')
  await a.persistence.flushed()
  const oldUpdates = [...a.oldEpochUpdates, ...b.oldEpochUpdates]
  const beforeOffer = await inspectStore(store, oldUpdates)
  const bBlocked = [...b.storeErrors]
  const flushedBeforeOffer = await b.persistence.flushed().then(
    () => 'resolved',
    (err: { code?: string }) => err.code,
  )

  // B hears of the new epoch (over the BroadcastChannel), switches and re-applies its edits.
  await settle(net, [a, b])
  return {
    a,
    b,
    record,
    beforeOffer,
    bBlocked,
    flushedBeforeOffer,
    after: await inspectStore(store, oldUpdates),
  }
}

describe('several writers of one store across an epoch switch (COMPACT-6.6)', () => {
  it('COMPACT-6.6, COMPACT-5.7, STORE-3.7, STORE-2.5: no old-epoch update reaches the new epoch, nothing is lost', async () => {
    const { a, b, record, beforeOffer, bBlocked, flushedBeforeOffer, after } = await scenario(
      new MemoryDocStore(),
    )

    // Between the switch and the offer: the store holds the new epoch only. B's late append was refused
    // (STORE-2.5); its earlier one was found by A's exact compaction (STORE-3.7), and A re-applied it onto the new
    // epoch as a follower would (COMPACT-6.6).
    expect(beforeOffer).toEqual({ text: '> hello before', epoch: record.id, oldInTail: 0, pending: false })
    expect(bBlocked).toEqual([WeftErrorCode.EpochMismatch])
    // STORE-7.8: the refused change is not durable, and flushed() says so (no durable ack for it).
    expect(flushedBeforeOffer).toBe(WeftErrorCode.EpochMismatch)

    // After B switched: both tabs and a fresh open agree; B's edits are there exactly once.
    expect(b.session.epoch).toBe(record.id)
    expect(a.text()).toBe('> hello before after')
    expect(b.text()).toBe(a.text())
    // (No byte comparison with old-epoch updates here: re-applied changes keep their ids, COMPACT-5.3, so B's
    // re-applied " after", written by a client the base did not know, is byte for byte its old-epoch update.)
    expect(after).toMatchObject({ text: '> hello before after', epoch: record.id, pending: false })
    await expect(b.persistence.flushed()).resolves.toBeUndefined()
    // The only errors: B's refused append, reported by its persistence and by its session's durable ack.
    expect(b.storeErrors).toEqual([WeftErrorCode.EpochMismatch])
    expect([...a.errors, ...b.errors].filter((code) => code !== WeftErrorCode.EpochMismatch)).toEqual([])
  })

  it("COMPACT-6.6 control: without the guard, old-epoch updates stay in the new epoch's tail", async () => {
    // What the stores did before: A's compaction kept what B appended after A's clock (STORE-3.1), and B's append
    // after the switch was stored under the new epoch; a reopen at that moment applies them to the new epoch, whose
    // document then holds the old "hello" a second time, next to the fresh one (COMPACT-5.7).
    const { beforeOffer, bBlocked } = await scenario(new UnguardedStore())
    // B's copy of A's "hello" (appended when it arrived, after A's own append), " before" and " after".
    expect(beforeOffer.oldInTail).toBe(3)
    expect(beforeOffer.text.match(/hello/g)).toHaveLength(2)
    expect(bBlocked).toEqual([])
  })
})

import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  DocPersistence,
  EpochManager,
  SyncSession,
  WeftErrorCode,
  docId,
  type CompactOptions,
  type CompactResult,
  type DocId,
} from '../../src/index.js'
import { MemoryDocStore, MemoryNetwork } from '../../src/testing/index.js'

const DOC = docId('board')

/** A store whose epoch compactions can be held (`gate`) or failed once (`failNext`). */
class FaultyStore extends MemoryDocStore {
  failNext = false
  #gate: { entered: () => void; release: Promise<void> } | null = null

  /** Holds the next epoch compaction; resolves `entered` when it is reached. */
  hold(): { entered: Promise<void>; release: () => void } {
    let release!: () => void
    let entered!: () => void
    const enteredP = new Promise<void>((r) => (entered = r))
    this.#gate = { entered, release: new Promise<void>((r) => (release = r)) }
    return { entered: enteredP, release }
  }

  override async compact(
    id: DocId,
    snapshot: Uint8Array,
    through: number,
    options?: CompactOptions,
  ): Promise<CompactResult> {
    if (options?.meta?.['epoch'] !== undefined) {
      if (this.failNext) {
        this.failNext = false
        throw new Error('QuotaExceededError')
      }
      const gate = this.#gate
      if (gate) {
        this.#gate = null
        gate.entered()
        await gate.release
      }
    }
    return super.compact(id, snapshot, through, options)
  }
}

/** A writer of the store as an app wires it. */
const open = async (store: MemoryDocStore) => {
  const persistence = await DocPersistence.open({ doc: new Y.Doc(), store, docId: DOC, compactor: null })
  const errors: string[] = []
  persistence.on('error', ({ error }) => errors.push(error.code))
  const epochs = new EpochManager({ persistence })
  epochs.on('error', ({ error }) => errors.push(error.code))
  const session = new SyncSession({
    doc: persistence.doc,
    epoch: epochs.record,
    epochLineage: epochs.lineage,
    durable: () => persistence.flushed(),
  })
  epochs.bind(session)
  const close = async () => {
    session.destroy()
    epochs.destroy()
    await persistence.destroy()
  }
  return { persistence, epochs, session, errors, close, text: () => session.doc.getText('t').toString() }
}

describe('epoch switches under faults (COMPACT-6.6, STORE-7.6, STORE-7.8)', () => {
  it("COMPACT-6.6 a tab's switch never folds away another tab's stored change it has not received", async () => {
    const store = new MemoryDocStore()
    const a = await open(store)
    const b = await open(store)
    a.session.doc.getText('t').insert(0, 'hello')
    await a.persistence.flushed()
    Y.applyUpdate(b.session.doc, Y.encodeStateAsUpdate(a.session.doc), 'tab')
    b.session.doc.getText('t').insert(5, ' X')
    await b.persistence.flushed() // durable: B's tab may close now
    // A appends after B without having received B's change, then resets history.
    a.session.doc.getText('t').insert(0, 'Y ')
    await a.persistence.flushed()
    await a.epochs.start()
    expect(a.text()).toBe('Y hello X')
    await b.close()
    await a.close()
    const c = await open(store)
    expect(c.text()).toBe('Y hello X')
    expect(c.session.epoch).not.toBe('0')
    await c.close()
  })

  it('COMPACT-3.1 a start that could not be stored leaves the starter in its epoch, storing everything', async () => {
    const store = new FaultyStore()
    const a = await open(store)
    a.session.doc.getText('t').insert(0, 'hello world')
    a.session.doc.getText('t').delete(0, 6)
    await a.persistence.flushed()
    store.failNext = true
    await expect(a.epochs.start()).rejects.toThrow(/QuotaExceeded/)
    // Nobody heard of the epoch: the session never moved; edits go on in the old epoch and are stored.
    expect(a.session.epoch).toBe('0')
    a.session.doc.getText('t').insert(0, 'new ')
    await a.persistence.flushed()
    await a.close()
    const b = await open(store)
    expect(b.session.epoch).toBe('0')
    expect(b.text()).toBe('new world')
    await b.close()
  })

  it('STORE-7.8 a follower whose switch could not be stored appends nothing of the new epoch and acks nothing', async () => {
    const net = new MemoryNetwork()
    const a = await open(new MemoryDocStore())
    const store = new FaultyStore()
    const b = await open(store)
    const [ta, tb] = [net.transport('a'), net.transport('b')]
    net.link(ta, tb)
    a.session.addTransport(ta)
    b.session.addTransport(tb)
    ta.connect()
    tb.connect()
    a.session.doc.getText('t').insert(0, 'world')
    net.flush()
    await b.persistence.flushed()
    tb.disconnect()
    await a.epochs.start()
    store.failNext = true
    const failed = new Promise<void>((resolve) =>
      b.persistence.on('error', ({ error }) => {
        if (error.code === WeftErrorCode.StoreFailed) resolve()
      }),
    )
    tb.connect()
    net.flush()
    await failed
    net.flush()
    expect(b.session.epoch).toBe(a.session.epoch) // it follows in memory...
    b.session.doc.getText('t').insert(0, 'new ')
    // ...but no durable ack may cover the new epoch: flushed() refuses.
    await expect(b.persistence.flushed()).rejects.toMatchObject({ code: WeftErrorCode.EpochMismatch })
    expect((await store.load(DOC))?.meta['epoch']).toBeUndefined()
    await b.close()
    // Its store still holds the old epoch, once, unchanged.
    const c = await open(store)
    expect(c.session.epoch).toBe('0')
    expect(c.text()).toBe('world')
    await c.close()
    await a.close()
  })

  it('STORE-7.6 an edit made in the new epoch while the switch is stored survives closing the document', async () => {
    const store = new FaultyStore()
    const a = await open(store)
    a.session.doc.getText('t').insert(0, 'hello')
    await a.persistence.flushed()
    const { entered, release } = store.hold()
    const started = a.epochs.start()
    await entered // the switch waits in the store's atomic step
    a.session.doc.getText('t').insert(5, ' world')
    a.session.destroy()
    a.epochs.destroy()
    const closed = a.persistence.destroy()
    release()
    await started
    await closed
    const b = await open(store)
    expect(b.text()).toBe('hello world')
    expect(b.session.epoch).not.toBe('0')
    await b.close()
  })
})

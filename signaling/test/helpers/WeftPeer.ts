import * as Y from 'yjs'
import type { DocPersistence, DocStore, EpochManager, SyncSession } from '@weft/core'
import { docId, type EpochRecord } from '@weft/core'
import { MemoryDocStore, openEpochPeer } from '@weft/core/testing'
import { RelayTransport } from './RelayTransport.js'

/** Resolves with the payload of the next `event` of an lib0 observable. */
export const once = <T>(
  emitter: { on(name: string, fn: (e: T) => void): void; off(name: string, fn: (e: T) => void): void },
  event: string,
): Promise<T> =>
  new Promise((resolve) => {
    const fn = (e: T) => {
      emitter.off(event, fn)
      resolve(e)
    }
    emitter.on(event, fn)
  })

/**
 * A Weft peer wired as an app would wire it (DocPersistence on a MemoryDocStore, SyncSession, EpochManager), syncing
 * with one relay room over a {@link RelayTransport}. Survives `restart()` (same store) and reconnects to any URL.
 */
export class WeftPeer {
  doc!: Y.Doc
  session!: SyncSession
  persistence!: DocPersistence
  epochs!: EpochManager
  transport: RelayTransport | null = null
  readonly errors: string[] = []
  readonly blocked: string[] = []

  constructor(
    readonly room: string,
    readonly store: DocStore = new MemoryDocStore(),
  ) {}

  async open(): Promise<this> {
    const doc = new Y.Doc()
    ;({
      persistence: this.persistence,
      epochs: this.epochs,
      session: this.session,
    } = await openEpochPeer({ doc, store: this.store, docId: docId(this.room) }))
    this.doc = doc
    this.epochs.on('epoch-changed', ({ doc: next }) => (this.doc = next))
    this.epochs.on('blocked', ({ reason }) => this.blocked.push(reason))
    this.epochs.on('error', ({ error }) => this.errors.push(error.message))
    this.session.on('error', ({ error }) => this.errors.push(error.message))
    return this
  }

  /** Connects to `<ws>/relay/<room>` (a new transport each time); resolves once the socket is open. */
  async connect(ws: string): Promise<void> {
    this.disconnect()
    const transport = new RelayTransport(`${ws}/relay/${this.room}`)
    this.transport = transport
    this.session.addTransport(transport)
    await transport.connect()
  }

  disconnect(): void {
    const t = this.transport
    if (!t) return
    this.transport = null
    this.session.removeTransport(t)
    t.destroy()
  }

  /** The next switch of this peer (started, or followed from an offer). */
  nextEpoch(): Promise<EpochRecord> {
    return once<{ record: EpochRecord }>(this.epochs, 'epoch-changed').then((e) => e.record)
  }

  /** The next completed handshake with the relay. */
  nextSynced(): Promise<unknown> {
    return once(this.session, 'peer-synced')
  }

  text(): string {
    return this.doc.getText('t').toString()
  }

  async close(): Promise<void> {
    this.disconnect()
    await this.epochs.settled()
    await this.persistence.flushed()
    this.epochs.destroy()
    this.session.destroy()
    await this.persistence.destroy()
  }
}

import type { Logger } from 'pino'
import { CloseCode, docId, isEpochArchiveId, encodeAwareness, type DocStore } from '@weft/core'
import type { Access } from '../auth/RoomGrant.js'
import type { GuardedSocket } from '../connection/GuardedSocket.js'
import type { ServerMetrics } from '../metrics/ServerMetrics.js'
import type { ServerLimits } from '../ServerLimits.js'
import { isSharedStore, ScaleOutRelay } from '../scaleout/ScaleOutRelay.js'
import { WeftServerError } from '../WeftServerError.js'
import { GroupCommitter } from './GroupCommitter.js'
import { RelayCompaction } from './RelayCompaction.js'
import { RelayConnection, type RelayConnectionOptions, type RelayHost } from './RelayConnection.js'
import { RelayDoc, type RelayPeer } from './RelayDoc.js'
import { RelayEpochs } from './RelayEpochs.js'
import { RELAY_DEFAULTS, type RelayOptions } from './RelayOptions.js'

/** Options of {@link RelayHub}. */
export interface RelayHubOptions {
  readonly store: DocStore
  /** Whether {@link RelayHub.close} closes the store. */
  readonly ownsStore: boolean
  readonly options: RelayOptions
  readonly limits: ServerLimits
  readonly metrics: ServerMetrics
  readonly logger: Logger
}

/** Largest awareness update accepted from one connection. */
const MAX_AWARENESS_BYTES = 64 * 1024

/**
 * The storing relay (docs/spec/relay-protocol.md): one {@link RelayDoc} per loaded room, loaded from the DocStore
 * before anyone is answered, written through a {@link GroupCommitter}, compacted when its update log grows, and
 * unloaded after `idleUnloadMs` without connections.
 */
export class RelayHub implements RelayHost {
  readonly #store: DocStore
  readonly #ownsStore: boolean
  readonly #opts: RelayHubOptions
  readonly #committer: GroupCommitter
  /** Log compaction (RELAY-3.4, 3.6, 3.7). */
  readonly #compaction: RelayCompaction
  readonly #idleUnloadMs: number
  readonly #docs = new Map<string, RelayDoc>()
  readonly #loading = new Map<string, Promise<RelayDoc>>()
  /** Each document's epoch (history compaction, RELAY-EPOCH-*). */
  readonly epochs: RelayEpochs
  /** Scale-out mode: the Redis bus and per-room clock tracking (null on a single node). */
  readonly #scale: ScaleOutRelay | null = null
  #closed = false
  /** The settings of every connection, one object per access level (not one per connection). */
  readonly #connectionOptions: Record<Exclude<Access, 'none'>, RelayConnectionOptions>

  constructor(opts: RelayHubOptions) {
    this.#opts = opts
    const settings = (access: Exclude<Access, 'none'>): RelayConnectionOptions =>
      Object.freeze({
        access,
        maxMessageBytes: opts.limits.maxRelayMessageBytes,
        maxAwarenessBytes: MAX_AWARENESS_BYTES,
        chunkSize: opts.options.chunkSize ?? RELAY_DEFAULTS.chunkSize,
      })
    this.#connectionOptions = { read: settings('read'), write: settings('write') }
    this.#store = opts.store
    this.#ownsStore = opts.ownsStore
    const scaleOut = opts.options.scaleOut
    if (scaleOut) {
      if (!isSharedStore(opts.store)) {
        throw new WeftServerError('invalid-argument', 'scale-out needs a shared store (PostgresDocStore)')
      }
      this.#scale = new ScaleOutRelay({
        store: opts.store,
        options: scaleOut,
        logger: opts.logger,
        remoteCompacted: (doc, _clock, bytes) => this.#compaction.remoteCompacted(doc, bytes),
      })
    }
    this.#committer = new GroupCommitter(
      opts.store,
      opts.options.commitWindowMs ?? RELAY_DEFAULTS.commitWindowMs,
      opts.metrics,
      opts.logger,
      this.#scale
        ? (target, clock, update) => this.#scale?.committed(target as RelayDoc, clock, update)
        : undefined,
    )
    this.#idleUnloadMs = opts.options.idleUnloadMs ?? RELAY_DEFAULTS.idleUnloadMs
    this.epochs = new RelayEpochs(
      {
        store: opts.store,
        logger: opts.logger,
        quiesce: (doc) => this.#quiesce(doc),
        commit: (doc, update, forward) => {
          if (forward) doc.broadcastUpdate(update, this.epochs.tag(doc))
          return this.#commit(doc, update)
        },
        replaced: (doc, v1, bytes) => this.#replaced(doc, v1, bytes),
      },
      { epochs: opts.options.epochs, scaleOut: this.#scale !== null },
    )
    this.#compaction = new RelayCompaction(
      {
        store: opts.store,
        logger: opts.logger,
        metrics: opts.metrics,
        epochs: this.epochs,
        scale: this.#scale,
        pending: (doc) => this.#committer.pending(doc),
        closed: () => this.#closed,
      },
      opts.options.compaction,
    )
  }

  /** Documents loaded in memory. */
  get docsLoaded(): number {
    return this.#docs.size
  }

  /** Loaded documents with at least one connection. */
  get roomCount(): number {
    let n = 0
    for (const doc of this.#docs.values()) if (this.#connections(doc) > 0) n++
    return n
  }

  /** Connections in `doc`'s room (its peers, without the scale-out bus peer). */
  #connections(doc: RelayDoc): number {
    let n = doc.peers.size
    if (this.#scale) for (const p of doc.peers) if (this.#scale.isBusPeer(p)) n--
    return n
  }

  /** Serves one connection to `room` until it closes. */
  accept(socket: GuardedSocket, room: string, access: Exclude<Access, 'none'>): void {
    const conn = new RelayConnection(socket, this, this.#connectionOptions[access])
    if (isEpochArchiveId(room)) {
      // RELAY-EPOCH-6: an epoch archive is the relay's record of a left epoch, never a room anyone writes to.
      socket.attach({ onMessage: () => undefined, onClose: () => undefined })
      return socket.close(CloseCode.Forbidden, 'epoch archives are not rooms')
    }
    socket.attach(conn)
    this.#open(room).then(
      (doc) => {
        if (!socket.open) return
        if (doc.idleTimer) clearTimeout(doc.idleTimer)
        doc.idleTimer = null
        doc.peers.add(conn)
        conn.start(doc)
      },
      (err: unknown) => {
        socket.logger.error({ err, room }, 'could not load document')
        socket.close(CloseCode.InternalError, 'could not load document')
      },
    )
  }

  acceptUpdate(doc: RelayDoc, update: Uint8Array, from: RelayPeer, deleted: number): Promise<void> {
    // RELAY-EPOCH-4: during a switch updates are forwarded (still in the old epoch) but stored only afterwards.
    const durable = this.epochs.switching(doc)
      ? this.epochs.hold(doc, update)
      : this.#commit(doc, update, deleted)
    doc.broadcastUpdate(update, this.epochs.tag(doc), from)
    return durable
  }

  beforeAnswer(doc: RelayDoc): void {
    this.#compaction.beforeAnswer(doc)
  }

  /**
   * Appends to the in-memory state and queues for storage. `deleted`: the clock units the update's delete set
   * covers (1 when not known).
   */
  #commit(doc: RelayDoc, update: Uint8Array, deleted = 1): Promise<void> {
    doc.deletedSinceGc += deleted
    doc.log.append(update)
    this.#opts.metrics.updates.inc()
    this.#opts.metrics.updateBytes.inc({}, update.byteLength)
    return this.#committer.add(doc, update)
  }

  /** Resolves once every accepted update of `doc` is durable and no log compaction of it runs. */
  async #quiesce(doc: RelayDoc): Promise<void> {
    while (doc.compacting || this.#committer.pending(doc)) {
      await this.#compaction.running(doc)
      await this.#committer.whenDurable(doc).catch(() => undefined)
    }
  }

  /** RELAY-EPOCH-4: `doc` switched epochs; its state is the new epoch's, stored as one snapshot. */
  #replaced(doc: RelayDoc, v1: Uint8Array, snapshotBytes: number): void {
    doc.log.unmark()
    doc.log.rebase([v1])
    doc.tailCount = 0
    doc.tailBytes = 0
    doc.deletedSinceGc = 0
    doc.snapshotBytes = snapshotBytes
    this.#compaction.replaced(doc, v1)
  }

  whenDurable(doc: RelayDoc): Promise<void> {
    return this.#committer.whenDurable(doc)
  }

  /** Flushes every accepted update, waits for running compactions, unloads everything, closes an owned store. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.allSettled(this.#loading.values())
    await this.epochs.settled()
    await this.#committer.flush()
    this.#committer.stop()
    await this.#compaction.settled()
    await this.#scale?.close()
    for (const doc of this.#docs.values()) if (doc.idleTimer) clearTimeout(doc.idleTimer)
    this.#docs.clear()
    if (this.#ownsStore) await this.#store.close()
  }

  #open(room: string): Promise<RelayDoc> {
    const loaded = this.#docs.get(room)
    if (loaded) return Promise.resolve(loaded)
    let loading = this.#loading.get(room)
    if (!loading) {
      loading = this.#load(room).finally(() => this.#loading.delete(room))
      this.#loading.set(room, loading)
    }
    return loading
  }

  async #load(room: string): Promise<RelayDoc> {
    const started = performance.now()
    const id = docId(room)
    // SCALE-2.2: subscribe before loading; what the bus brings meanwhile is applied after the load.
    await this.#scale?.prepare(room)
    try {
      const stored = await this.#store.load(id)
      const doc = new RelayDoc(id, stored, (d) => this.#compaction.maybeCompact(d))
      this.epochs.attach(doc, stored?.meta ?? {})
      // Decode once now: a corrupted store fails here, not in front of a client.
      doc.log.stateVector()
      if (doc.log.dropped > 0) {
        this.#opts.logger.warn(
          { doc: id, dropped: doc.log.dropped },
          'stored updates Yjs cannot merge were skipped',
        )
      }
      const collected = this.#compaction.loaded(doc, stored)
      this.#docs.set(room, doc)
      this.#scale?.attach(room, doc, stored?.clock ?? 0)
      this.#opts.metrics.docLoads.inc()
      this.#opts.metrics.loadSeconds.observe((performance.now() - started) / 1000)
      // Rebuilds again rather than storing the load's rebuild: attach() may have appended what the bus brought.
      if (collected) this.#compaction.maybeCompact(doc, true)
      return doc
    } catch (err) {
      this.#scale?.release(room)
      throw err
    }
  }

  /** A connection of `doc` closed (called by the connection). */
  leave(doc: RelayDoc, conn: RelayConnection): void {
    if (!doc.peers.delete(conn)) return
    const removal = doc.awareness.removeOwner(conn)
    if (removal) doc.broadcast(encodeAwareness(removal))
    if (this.#connections(doc) === 0 && !this.#closed) {
      doc.idleTimer = setTimeout(() => void this.#unload(doc), this.#idleUnloadMs)
      doc.idleTimer.unref()
    }
  }

  async #unload(doc: RelayDoc): Promise<void> {
    doc.idleTimer = null
    await this.#committer.whenDurable(doc).catch(() => undefined)
    if (
      this.#connections(doc) > 0 ||
      doc.idleTimer ||
      this.#committer.pending(doc) ||
      doc.compacting ||
      this.epochs.busy(doc)
    )
      return
    if (this.#docs.get(doc.docId) !== doc) return
    this.#docs.delete(doc.docId)
    this.#scale?.release(doc.docId)
    this.#opts.metrics.docUnloads.inc()
    this.#opts.logger.debug({ doc: doc.docId }, 'document unloaded')
  }
}

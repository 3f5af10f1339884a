import type { Logger } from 'pino'
import * as Y from 'yjs'
import {
  CloseCode,
  defaultCompactionPolicy,
  docId,
  isEpochArchiveId,
  encodeAwareness,
  shouldCompact,
  type CompactionPolicy,
  type DocStore,
  type StoredDoc,
} from '@weft/core'
import type { Access } from '../auth/RoomGrant.js'
import type { GuardedSocket } from '../connection/GuardedSocket.js'
import type { ServerMetrics } from '../metrics/ServerMetrics.js'
import type { ServerLimits } from '../ServerLimits.js'
import { isSharedStore, ScaleOutRelay } from '../scaleout/ScaleOutRelay.js'
import { WeftServerError } from '../WeftServerError.js'
import { GroupCommitter } from './GroupCommitter.js'
import { collectGarbage } from './mergeUpdatesBatched.js'
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

/** Metadata key set by a garbage-collecting compaction (its `throughClock`). */
export const GC_META_KEY = 'weft.relay.gc'
/** Stored documents at least this large are checked for deleted content when loaded (RELAY-3.6). */
const GC_ON_LOAD_MIN_BYTES = 64 * 1024
/** A rebuilt state smaller than this fraction of the merged one replaces it at load. */
const GC_ON_LOAD_GAIN = 0.75
/**
 * The in-memory state is rebuilt (and compacted) when it grew to this multiple of its size after the last rebuild,
 * and by at least {@link GC_ON_LOAD_MIN_BYTES}: merged single-keystroke updates keep deleted content, and the tail
 * of such a document may stay under the compaction policy's thresholds (it counts commits, not keystrokes).
 */
const GC_GROWTH = 4
/**
 * RELAY-3.7: a state at most this large that grew by {@link ANSWER_GC_GROWTH} of its size after the last rebuild
 * and may hold deleted content is rebuilt before a joiner is answered from it (a few milliseconds at this size):
 * merged updates keep deleted content and one item per keystroke, so joiners would receive up to twice the bytes.
 */
const ANSWER_GC_MAX_BYTES = 1024 * 1024
const ANSWER_GC_GROWTH = 0.1

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
  readonly #compaction: CompactionPolicy
  /** The policy for a tail without deleted content: no byte threshold. */
  readonly #insertOnlyCompaction: CompactionPolicy
  readonly #idleUnloadMs: number
  readonly #docs = new Map<string, RelayDoc>()
  readonly #loading = new Map<string, Promise<RelayDoc>>()
  readonly #compactions = new Set<Promise<void>>()
  /** The running log compaction of each document. */
  readonly #compactionOf = new WeakMap<RelayDoc, Promise<void>>()
  /** Each document's epoch (history compaction, RELAY-EPOCH-*). */
  readonly epochs: RelayEpochs
  /** Bytes of each document's in-memory state after its last garbage collection (or load). */
  readonly #gcBaseline = new WeakMap<RelayDoc, number>()
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
        remoteCompacted: (doc, clock, bytes) => this.#remoteCompacted(doc, clock, bytes),
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
    this.#compaction = { ...defaultCompactionPolicy, ...opts.options.compaction }
    this.#insertOnlyCompaction = { ...this.#compaction, maxUpdateBytes: Infinity }
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
    if (doc.deletedSinceGc === 0) return
    const size = doc.log.byteLength
    if (size > ANSWER_GC_MAX_BYTES) return
    if (size < (this.#gcBaseline.get(doc) ?? 0) * (1 + ANSWER_GC_GROWTH)) return
    this.#maybeCompact(doc, true)
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
      await this.#compactionOf.get(doc)
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
    this.#gcBaseline.set(doc, v1.byteLength)
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
    await Promise.allSettled(this.#compactions)
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
      const doc = new RelayDoc(id, stored, (d) => this.#maybeCompact(d))
      this.epochs.attach(doc, stored?.meta ?? {})
      // Decode once now: a corrupted store fails here, not in front of a client.
      doc.log.stateVector()
      if (doc.log.dropped > 0) {
        this.#opts.logger.warn(
          { doc: id, dropped: doc.log.dropped },
          'stored updates Yjs cannot merge were skipped',
        )
      }
      const collected = this.#collectOnLoad(doc, stored)
      this.#gcBaseline.set(doc, doc.log.byteLength)
      this.#docs.set(room, doc)
      this.#scale?.attach(room, doc, stored?.clock ?? 0)
      this.#opts.metrics.docLoads.inc()
      this.#opts.metrics.loadSeconds.observe((performance.now() - started) / 1000)
      if (collected) this.#maybeCompact(doc, true)
      return doc
    } catch (err) {
      this.#scale?.release(room)
      throw err
    }
  }

  /**
   * RELAY-3.6: a stored document much larger than its content (merged updates keep deleted content; snapshots of
   * older versions did too) is rebuilt through a garbage-collecting Y.Doc when loaded. Returns whether it was.
   */
  #collectOnLoad(doc: RelayDoc, stored: StoredDoc | null): boolean {
    if (!stored || stored.byteLength < GC_ON_LOAD_MIN_BYTES) return false
    if (stored.meta[GC_META_KEY] !== undefined && doc.tailBytes <= doc.snapshotBytes) return false
    const state = doc.log.state()
    const { v1 } = collectGarbage(state)
    if (v1.byteLength >= state.byteLength * GC_ON_LOAD_GAIN) return false
    doc.log.rebase([v1])
    this.#opts.logger.debug(
      { doc: doc.docId, from: state.byteLength, to: v1.byteLength },
      'collected on load',
    )
    return true
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

  /**
   * Log compaction (RELAY-3.4, RELAY-3.6): once the stored log grew past the thresholds, its state is rebuilt
   * through a garbage-collecting Y.Doc, replaces the in-memory log at once and is stored as the new snapshot. Without
   * deleted content since the last rebuild, only the count thresholds apply: a rebuild would drop nothing, and each
   * compaction of a growing document merges its whole state (a 20 MB upload compacted every megabyte churns through
   * gigabytes). In scale-out mode the snapshot covers the clock through which this node has applied every stored
   * update (SCALE-4.1), and the store's lock and stale check keep two nodes from both compacting (SCALE-4.2).
   */
  #maybeCompact(doc: RelayDoc, force = false): void {
    const baseline = this.#gcBaseline.get(doc) ?? 0
    const size = doc.log.byteLength
    const deletes = doc.deletedSinceGc > 0
    const grown = deletes && size >= baseline * GC_GROWTH && size >= baseline + GC_ON_LOAD_MIN_BYTES
    const due =
      force ||
      grown ||
      shouldCompact(
        { updateCount: doc.tailCount, updateBytes: doc.tailBytes, snapshotBytes: doc.snapshotBytes },
        deletes ? this.#compaction : this.#insertOnlyCompaction,
      )
    // No log compaction during an epoch switch (it would store old-epoch state after the switch).
    if (!due || doc.compacting || this.#closed || this.epochs.busy(doc)) return
    // The log holds every stored update through `through` (and perhaps accepted ones not yet durable: a snapshot
    // may hold more than its clock says, never less). A busy document therefore compacts while writes continue.
    const through = this.#scale ? this.#scale.appliedClock(doc) : doc.lastClock
    const [count, bytes] = [doc.tailCount, doc.tailBytes]
    let snapshot: Uint8Array
    let v1: Uint8Array
    try {
      ;({ v1, v2: snapshot } = collectGarbage(doc.log.state()))
    } catch (err) {
      // Not retried before the next growth step.
      this.#gcBaseline.set(doc, Math.max(baseline, size))
      return void this.#opts.logger.error({ err, doc: doc.docId }, 'compaction failed')
    }
    // The rebuilt state holds exactly what the log held (nothing was appended since `state()`): it replaces the
    // in-memory state now, whatever becomes of the store's compaction.
    doc.log.rebase([v1])
    doc.deletedSinceGc = 0
    this.#gcBaseline.set(doc, v1.byteLength)
    doc.compacting = true
    const run = this.#store
      .compact(doc.docId, snapshot, through, { meta: { [GC_META_KEY]: String(through) } })
      .then(
        (result) => {
          if (!result.ok) return void this.#opts.logger.debug({ doc: doc.docId }, 'compaction was stale')
          doc.tailCount = Math.max(0, doc.tailCount - count)
          doc.tailBytes = Math.max(0, doc.tailBytes - bytes)
          doc.snapshotBytes = snapshot.byteLength
          this.#scale?.compacted(doc, through, snapshot.byteLength)
          this.#opts.metrics.compactions.inc()
          this.#opts.logger.debug({ doc: doc.docId, updates: count, bytes: snapshot.byteLength }, 'compacted')
          this.epochs.compacted(doc)
        },
        (err: unknown) => this.#opts.logger.error({ err, doc: doc.docId }, 'compaction failed'),
      )
      .finally(() => {
        doc.compacting = false
        this.#compactions.delete(run)
      })
    this.#compactions.add(run)
    this.#compactionOf.set(doc, run)
  }

  /**
   * Another node compacted `doc` (SCALE-4.3): its stored tail is gone, and the snapshot holds the garbage-collected
   * state. This node resets its compaction counters and, when nothing of the document is waiting to be written,
   * replaces its in-memory log by the stored state (so it too serves joiners without deleted content).
   */
  #remoteCompacted(doc: RelayDoc, _clock: number, bytes: number): void {
    doc.tailCount = 0
    doc.tailBytes = 0
    doc.snapshotBytes = bytes
    if (doc.compacting || this.#committer.pending(doc) || this.#closed) return
    doc.compacting = true
    doc.log.mark()
    const deletedBefore = doc.deletedSinceGc
    const run = this.#store
      .load(doc.docId)
      .then(
        (stored) => {
          if (!stored?.snapshot) return void doc.log.unmark()
          doc.log.rebase([Y.convertUpdateFormatV2ToV1(stored.snapshot), ...stored.updates])
          doc.tailCount = stored.updates.length
          // What arrived since the mark stays counted; the stored tail's content is not known.
          doc.deletedSinceGc = doc.deletedSinceGc - deletedBefore + (stored.updates.length > 0 ? 1 : 0)
          this.#gcBaseline.set(doc, doc.log.byteLength)
          doc.tailBytes = stored.updates.reduce((n, u) => n + u.byteLength, 0)
        },
        (err: unknown) => {
          doc.log.unmark()
          this.#opts.logger.warn({ err, doc: doc.docId }, 'reload after a remote compaction failed')
        },
      )
      .finally(() => {
        doc.compacting = false
        this.#compactions.delete(run)
      })
    this.#compactions.add(run)
  }
}

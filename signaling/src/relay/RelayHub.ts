import type { Logger } from 'pino'
import * as Y from 'yjs'
import {
  CloseCode,
  defaultCompactionPolicy,
  docId,
  encodeAwareness,
  encodeSyncUpdate,
  shouldCompact,
  type CompactionPolicy,
  type DocStore,
} from '@weft/core'
import type { Access } from '../auth/RoomGrant.js'
import type { GuardedSocket } from '../connection/GuardedSocket.js'
import type { ServerMetrics } from '../metrics/ServerMetrics.js'
import type { ServerLimits } from '../ServerLimits.js'
import { GroupCommitter } from './GroupCommitter.js'
import { RelayConnection, type RelayHost } from './RelayConnection.js'
import { RelayDoc, type RelayPeer } from './RelayDoc.js'
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
  readonly #compaction: CompactionPolicy
  readonly #idleUnloadMs: number
  readonly #docs = new Map<string, RelayDoc>()
  readonly #loading = new Map<string, Promise<RelayDoc>>()
  readonly #compactions = new Set<Promise<void>>()
  #closed = false

  constructor(opts: RelayHubOptions) {
    this.#opts = opts
    this.#store = opts.store
    this.#ownsStore = opts.ownsStore
    this.#committer = new GroupCommitter(
      opts.store,
      opts.options.commitWindowMs ?? RELAY_DEFAULTS.commitWindowMs,
      opts.metrics,
      opts.logger,
    )
    this.#compaction = { ...defaultCompactionPolicy, ...opts.options.compaction }
    this.#idleUnloadMs = opts.options.idleUnloadMs ?? RELAY_DEFAULTS.idleUnloadMs
  }

  /** Documents loaded in memory. */
  get docsLoaded(): number {
    return this.#docs.size
  }

  /** Loaded documents with at least one connection. */
  get roomCount(): number {
    let n = 0
    for (const doc of this.#docs.values()) if (doc.peers.size > 0) n++
    return n
  }

  /** Serves one connection to `room` until it closes. */
  accept(socket: GuardedSocket, room: string, access: Exclude<Access, 'none'>): void {
    const conn = new RelayConnection(socket, this, {
      access,
      maxMessageBytes: this.#opts.limits.maxRelayMessageBytes,
      maxAwarenessBytes: MAX_AWARENESS_BYTES,
      chunkSize: this.#opts.options.chunkSize ?? RELAY_DEFAULTS.chunkSize,
    })
    let doc: RelayDoc | null = null
    socket.attach({
      onMessage: (data, isBinary) => conn.onMessage(data, isBinary),
      onClose: () => {
        conn.close()
        if (doc) this.#leave(doc, conn)
      },
    })
    this.#open(room).then(
      (loaded) => {
        if (!socket.open) return
        doc = loaded
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

  acceptUpdate(doc: RelayDoc, update: Uint8Array, from: RelayPeer): Promise<void> {
    doc.log.append(update)
    this.#opts.metrics.updates.inc()
    this.#opts.metrics.updateBytes.inc({}, update.byteLength)
    const durable = this.#committer.add(doc, update)
    doc.broadcast(encodeSyncUpdate(update), from)
    return durable
  }

  whenDurable(doc: RelayDoc): Promise<void> {
    return this.#committer.whenDurable(doc)
  }

  /** Flushes every accepted update, waits for running compactions, unloads everything, closes an owned store. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.allSettled(this.#loading.values())
    await this.#committer.flush()
    this.#committer.stop()
    await Promise.allSettled(this.#compactions)
    for (const doc of this.#docs.values()) if (doc.idleTimer) clearTimeout(doc.idleTimer)
    this.#docs.clear()
    if (this.#ownsStore) await this.#store.close()
  }

  #open(room: string): Promise<RelayDoc> {
    const loaded = this.#docs.get(room)
    if (loaded) return Promise.resolve(loaded)
    let loading = this.#loading.get(room)
    if (!loading) {
      const started = performance.now()
      const id = docId(room)
      loading = this.#store
        .load(id)
        .then((stored) => {
          const doc = new RelayDoc(id, stored, (d) => this.#maybeCompact(d))
          // Decode once now: a corrupted store fails here, not in front of a client.
          doc.log.stateVector()
          if (doc.log.dropped > 0) {
            this.#opts.logger.warn(
              { doc: id, dropped: doc.log.dropped },
              'stored updates Yjs cannot merge were skipped',
            )
          }
          this.#docs.set(room, doc)
          this.#opts.metrics.docLoads.inc()
          this.#opts.metrics.loadSeconds.observe((performance.now() - started) / 1000)
          return doc
        })
        .finally(() => this.#loading.delete(room))
      this.#loading.set(room, loading)
    }
    return loading
  }

  #leave(doc: RelayDoc, conn: RelayConnection): void {
    if (!doc.peers.delete(conn)) return
    const removal = doc.awareness.removeOwner(conn)
    if (removal) doc.broadcast(encodeAwareness(removal))
    if (doc.peers.size === 0 && !this.#closed) {
      doc.idleTimer = setTimeout(() => void this.#unload(doc), this.#idleUnloadMs)
      doc.idleTimer.unref()
    }
  }

  async #unload(doc: RelayDoc): Promise<void> {
    doc.idleTimer = null
    await this.#committer.whenDurable(doc).catch(() => undefined)
    if (doc.peers.size > 0 || doc.idleTimer || this.#committer.pending(doc) || doc.compacting) return
    if (this.#docs.get(doc.docId) !== doc) return
    this.#docs.delete(doc.docId)
    this.#opts.metrics.docUnloads.inc()
    this.#opts.logger.debug({ doc: doc.docId }, 'document unloaded')
  }

  /** Log compaction (RELAY-3.4): merge the stored log into one snapshot once it grew past the thresholds. */
  #maybeCompact(doc: RelayDoc): void {
    const due = shouldCompact(
      { updateCount: doc.tailCount, updateBytes: doc.tailBytes, snapshotBytes: doc.snapshotBytes },
      this.#compaction,
    )
    if (!due || doc.compacting || this.#committer.pending(doc) || this.#closed) return
    doc.compacting = true
    // Everything accepted is durable (nothing pending), so the cached state is exactly the stored state.
    const snapshot = Y.convertUpdateFormatV1ToV2(doc.log.state())
    const through = doc.lastClock
    const [count, bytes] = [doc.tailCount, doc.tailBytes]
    const run = this.#store
      .compact(doc.docId, snapshot, through)
      .then(
        (result) => {
          if (!result.ok) return void this.#opts.logger.warn({ doc: doc.docId }, 'compaction was stale')
          doc.tailCount -= count
          doc.tailBytes -= bytes
          doc.snapshotBytes = snapshot.byteLength
          this.#opts.metrics.compactions.inc()
          this.#opts.logger.debug({ doc: doc.docId, updates: count, bytes: snapshot.byteLength }, 'compacted')
        },
        (err: unknown) => this.#opts.logger.error({ err, doc: doc.docId }, 'compaction failed'),
      )
      .finally(() => {
        doc.compacting = false
        this.#compactions.delete(run)
      })
    this.#compactions.add(run)
  }
}

import type { Logger } from 'pino'
import { CloseCode, docId, type DocStore } from '@weft/core'
import { isEpochArchiveId } from '@weft/core/epochs'
import { encodeAwareness, type UpdateSummary } from '@weft/core/protocol'
import { RoomGrant, type Access } from '../auth/RoomGrant.js'
import type { ConnectionContext, WeftHooks } from '../hooks.js'
import type { ServerMetrics } from '../metrics/ServerMetrics.js'
import type { ServerLimits } from '../ServerLimits.js'
import { isSharedStore, ScaleOutRelay, type ScaleOutHealth } from '../scaleout/ScaleOutRelay.js'
import type { TopicBus } from '../scaleout/RedisRoomBus.js'
import { WeftServerError } from '../WeftServerError.js'
import { GroupCommitter } from './GroupCommitter.js'
import { HeldInput } from './HeldInput.js'
import { RelayCompaction } from './RelayCompaction.js'
import { RelayConnection, type RelayConnectionOptions, type RelayHost } from './RelayConnection.js'
import { RelayRoom, refusedUpdate, type RelayPeer, type RoomServices } from './RelayRoom.js'
import { RelayRules } from './rules/RelayRules.js'
import { CatalogueGuard, catalogueWorkspace } from '../workspace/catalogueGuard.js'
import { RelayEpochs } from './RelayEpochs.js'
import { RelayHooks } from './RelayHooks.js'
import type { RelaySocket } from './RelaySocket.js'
import { RELAY_DEFAULTS, type RelayOptions } from './RelayOptions.js'
import { PresenceTicker } from './PresenceTicker.js'
import { isQuarantineId, keepAside, quarantinedParts } from './quarantine.js'

/** Options of {@link RelayHub}. */
export interface RelayHubOptions {
  readonly store: DocStore
  /** Whether {@link RelayHub.close} closes the store. */
  readonly ownsStore: boolean
  readonly options: RelayOptions
  readonly limits: ServerLimits
  readonly metrics: ServerMetrics
  readonly logger: Logger
  /** The app's hooks (HOOK-*), if any. */
  readonly hooks?: WeftHooks | undefined
  /**
   * Called at once after each durable commit of a room, before its `onStored` and never waiting for it (the
   * workspace endpoint's CHANGED push, WS-RELAY-6): a slow or hanging app hook does not hold it (HOOK-5.4).
   */
  readonly committed?: ((room: string) => void) | undefined
  /**
   * Where the rooms' presence windows end (RELAY-6.8): the server's ticks, which its heartbeat sweeps share
   * (CONN-3.1); without it, one of the hub's own.
   */
  readonly ticker?: PresenceTicker | undefined
}

/** Largest awareness update accepted from one connection. */
const MAX_AWARENESS_BYTES = 64 * 1024

/**
 * The storing relay (docs/spec/relay-protocol.md): a map of {@link RelayRoom}s, one per loaded room, loaded from the
 * DocStore before anyone is answered and unloaded after `idleUnloadMs` without connections, plus what is truly
 * across rooms: the connections' admission to a room (the app's hooks), the services every room shares (made once
 * here: group commit, compaction, epoch settings, scale-out), and close. Each room stores, compacts and switches
 * epochs itself; nothing a room does calls back into the hub.
 */
export class RelayHub implements RelayHost {
  readonly #store: DocStore
  readonly #ownsStore: boolean
  readonly #opts: RelayHubOptions
  readonly #committer: GroupCommitter
  /** Log compaction (RELAY-3.4, 3.6, 3.7). */
  readonly #compaction: RelayCompaction
  readonly #idleUnloadMs: number
  readonly #docs = new Map<string, RelayRoom>()
  readonly #loading = new Map<string, Promise<RelayRoom>>()
  /** The epoch settings every room shares, and the calls connections make of a room's epoch (RELAY-EPOCH-*). */
  readonly epochs: RelayEpochs
  /** Scale-out mode: the Redis bus and per-room clock tracking (null on a single node). */
  readonly #scale: ScaleOutRelay | null = null
  /** The app's hooks, or `null` when none is set (then nothing passes through them). */
  readonly #hooks: RelayHooks | null
  /** The rooms' rules (RULES-4), or `null` when none are set. */
  readonly #rules: RelayRules | null
  /** WS-ACCESS: who may change which entry of a workspace catalogue. */
  readonly #catalogues: CatalogueGuard
  #closed = false
  /** What every room shares (one object for every room). */
  readonly #services: RoomServices
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
    const hooks = opts.hooks
    this.#hooks =
      hooks && Object.values(hooks).some((h) => h !== undefined)
        ? new RelayHooks(hooks, opts.logger, refusedUpdate, {
            timeoutMs: opts.options.hookTimeoutMs ?? RELAY_DEFAULTS.hookTimeoutMs,
            metrics: opts.metrics,
          })
        : null
    this.#rules = opts.options.rules ? new RelayRules(opts.options.rules, opts.logger) : null
    this.#catalogues = new CatalogueGuard(opts.logger, {
      maxEntryBytes: opts.limits.maxCatalogueEntryBytes,
    })
    const notified = this.#hooks?.notifiesStored ? this.#hooks : null
    const committed = opts.committed
    const scaleOut = opts.options.scaleOut
    if (scaleOut) {
      if (!isSharedStore(opts.store)) {
        throw new WeftServerError('invalid-argument', 'scale-out needs a shared store (PostgresDocStore)')
      }
      this.#scale = new ScaleOutRelay({
        store: opts.store,
        options: scaleOut,
        logger: opts.logger,
      })
    }
    this.#committer = new GroupCommitter(
      opts.store,
      opts.options.commitWindowMs ?? RELAY_DEFAULTS.commitWindowMs,
      opts.metrics,
      opts.logger,
      this.#scale
        ? (target, clock, update) => this.#scale?.committed(target as RelayRoom, clock, update)
        : undefined,
    )
    this.#idleUnloadMs = opts.options.idleUnloadMs ?? RELAY_DEFAULTS.idleUnloadMs
    this.epochs = new RelayEpochs({
      store: opts.store,
      logger: opts.logger,
      epochs: opts.options.epochs,
      scaleOut: this.#scale !== null,
      screened: this.#hooks?.screensUpdates ?? false,
      // WS-ACCESS-5: a catalogue's writes are checked too, so clients' offers to it are ignored as to a ruled room.
      ruled: (room) => (this.#rules?.ruled(room) ?? false) || catalogueWorkspace(room) !== null,
    })
    this.#compaction = new RelayCompaction(
      { store: opts.store, logger: opts.logger, metrics: opts.metrics, scale: this.#scale },
      opts.options.compaction,
    )
    this.#services = {
      committer: this.#committer,
      compaction: this.#compaction,
      epochs: this.epochs.settings,
      maxDocBytes: opts.limits.maxDocBytes,
      metrics: opts.metrics,
      logger: opts.logger,
      // HOOK-5: after the durable write, in commit order; HOOK-5.4: the relay's own follower first, never queued.
      stored: committed
        ? (docId, clock) => {
            try {
              committed(docId)
            } catch (err) {
              opts.logger.error({ err, room: docId }, 'commit follower failed')
            }
            notified?.stored(docId, clock)
          }
        : notified
          ? (docId, clock) => notified.stored(docId, clock)
          : null,
      presence: opts.options.presence,
      presenceTicker: opts.ticker ?? new PresenceTicker(),
    }
  }

  /** Documents loaded in memory. */
  get docsLoaded(): number {
    return this.#docs.size
  }

  /** The loaded room named `name`, if it is loaded (a read of the map: nothing is loaded for it). */
  room(name: string): RelayRoom | undefined {
    return this.#docs.get(name)
  }

  /** Loaded documents with at least one connection. */
  get roomCount(): number {
    let n = 0
    for (const doc of this.#docs.values()) if (this.#connections(doc) > 0) n++
    return n
  }

  /** The scale-out bus's topics (SCALE-2.10: the workspaces' notices share its connections), or null on one node. */
  get topics(): TopicBus | null {
    return this.#scale?.topics ?? null
  }

  /** Connections in `doc`'s room (its peers, without the scale-out bus peer). */
  #connections(doc: RelayRoom): number {
    let n = doc.peers.size
    if (this.#scale) for (const p of doc.peers) if (this.#scale.isBusPeer(p)) n--
    return n
  }

  /**
   * Serves one connection to `room` until it closes. `context`: what the hooks are told about it (HOOK-4; without
   * it, an open grant and no address).
   */
  accept(
    socket: RelaySocket,
    room: string,
    access: Exclude<Access, 'none'>,
    context?: ConnectionContext,
  ): RelayConnection | null {
    const conn = new RelayConnection(socket, this, this.#connectionOptions[access])
    if (isEpochArchiveId(room) || isQuarantineId(room)) {
      // RELAY-EPOCH-6: an epoch archive is the relay's record of a left epoch, never a room anyone writes to; nor is
      // a quarantine (RELAY-9.3).
      socket.attach({ onMessage: () => undefined, onClose: () => undefined })
      socket.close(CloseCode.Forbidden, 'epoch archives and quarantines are not rooms')
      return null
    }
    socket.attach(conn)
    const hooks = this.#hooks
    // HOOK-3.6, RULES-4.9: what the connection holds while its updates wait (for onUpdate, for a rebuild).
    const input =
      this.#rules || hooks?.followsConnections
        ? new HeldInput(socket, this.#opts.limits.maxRelayMessageBytes, this.#opts.logger, {
            room,
            conn: context?.id,
          })
        : null
    this.#rules?.identify(conn, context, input ?? undefined)
    this.#catalogues.identify(conn, context)
    if (!hooks?.followsConnections || !input) {
      this.#join(socket, conn, room)
      return conn
    }
    const grant = context?.grant ?? RoomGrant.open()
    const hooked = context ?? { id: 0, room, access, grant, subject: grant.subject, clientAddress: '' }
    // HOOK-4: the connection's messages wait (as during a load) until onConnect has run.
    hooks.connect(conn, input, hooked).then(
      (ok) => {
        if (ok) this.#join(socket, conn, room)
      },
      (err: unknown) => {
        socket.logger.error({ err, room }, 'could not start the connection')
        socket.close(CloseCode.InternalError, 'internal error')
      },
    )
    return conn
  }

  /**
   * RELAY-4.6, 4.7: a revalidation gave `conn` (still open, its access not gone) the grant of `context`: a write
   * connection whose access is now `read` becomes read-only, and the rules and hooks see the new grant.
   */
  regrant(conn: RelayConnection, context: ConnectionContext): void {
    if (context.access === 'read') conn.downgrade()
    this.#rules?.identify(conn, context)
    this.#catalogues.identify(conn, context)
    this.#hooks?.regrant(conn, context)
  }

  /** Loads `room` (if not loaded) and starts serving `conn` in it. */
  #join(socket: RelaySocket, conn: RelayConnection, room: string): void {
    this.#open(room).then(
      (doc) => {
        if (!socket.open) return this.#hooks?.disconnect(conn)
        doc.joined(conn)
        try {
          // RELAY-9.2: replays what the connection sent while the document loaded; nothing it sent may end here.
          conn.start(doc)
        } catch (err) {
          socket.logger.error({ err, room }, 'could not handle what the connection sent')
          socket.close(CloseCode.InternalError, 'internal error')
        }
      },
      (err: unknown) => {
        socket.logger.error({ err, room }, 'could not load document')
        socket.close(CloseCode.InternalError, 'could not load document')
        this.#hooks?.disconnect(conn)
      },
    )
  }

  acceptUpdate(doc: RelayRoom, update: Uint8Array, from: RelayPeer, summary: UpdateSummary): Promise<void> {
    // HOOK-3: with an onUpdate hook, the hook decides first (the sender's later updates wait behind it); without one
    // the update goes straight to the room (no promise made for the hook).
    // RULES-4: a ruled room's rules decide after the hook, right before the room takes the update.
    // WS-ACCESS: a catalogue's update is checked against the writer's grant first.
    const hooks = this.#hooks
    if (hooks?.screensUpdates)
      return hooks.screen(doc.docId, update, from, () => this.#screen(doc, update, from, summary))
    return this.#screen(doc, update, from, summary)
  }

  /**
   * After the hook: the catalogue guard, then the room's rules, then the room. The continuations are made here, inline
   * and unnamed, one per update without rules: a named closure per update also costs an `Object.defineProperty` when
   * the sources run through tsx (esbuild's `keepNames`), as the benchmark runs them.
   */
  #screen(doc: RelayRoom, update: Uint8Array, from: RelayPeer, summary: UpdateSummary): Promise<void> {
    const rules = this.#rules
    return this.#catalogues.screen(
      doc,
      update,
      from,
      rules
        ? () => rules.screen(doc, update, from, () => doc.accept(update, from, summary))
        : () => doc.accept(update, from, summary),
    )
  }

  beforeAnswer(doc: RelayRoom, sv: Uint8Array): void {
    doc.beforeAnswer(sv)
  }

  whenDurable(doc: RelayRoom, from: RelayPeer): Promise<void> {
    // HOOK-3.3: an update of `from` still waiting for onUpdate is not durable yet (an ack must not cover it); other
    // connections' waiting updates are not this ack's business.
    const hooked = this.#hooks?.screensUpdates ? this.#hooks.decided([from]) : null
    // RULES-4.9: neither may the ack pass the room's updates that wait for its rules view. Read once the hook has
    // decided: the updates it held reach the rules (and their queue) only then.
    const rules = this.#rules
    const deciding = hooked ? hooked.then(() => rules?.queued(doc)) : (rules?.queued(doc) ?? null)
    if (deciding) {
      const durable = deciding.then(() => doc.whenDurable())
      // Nobody may be waiting (an empty update without a sequence number): never an unhandled rejection.
      durable.catch(() => undefined)
      return durable
    }
    return doc.whenDurable()
  }

  /** Scale-out: the store's and the bus's state (HTTP-1.1); `null` on a single node. */
  health(): Promise<ScaleOutHealth | null> {
    return this.#scale?.health() ?? Promise.resolve(null)
  }

  /** Flushes every accepted update, waits for running compactions, unloads everything, closes an owned store. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#compaction.stop()
    await Promise.allSettled(this.#loading.values())
    await this.epochs.settled()
    await this.#committer.flush()
    this.#committer.stop()
    await this.#compaction.settled()
    await this.#hooks?.settled()
    await this.#scale?.close()
    for (const doc of this.#docs.values()) doc.closed()
    this.#docs.clear()
    if (this.#ownsStore) await this.#store.close()
  }

  #open(room: string): Promise<RelayRoom> {
    const loaded = this.#docs.get(room)
    if (loaded) return Promise.resolve(loaded)
    let loading = this.#loading.get(room)
    if (!loading) {
      loading = this.#load(room).finally(() => this.#loading.delete(room))
      this.#loading.set(room, loading)
    }
    return loading
  }

  async #load(room: string): Promise<RelayRoom> {
    const started = performance.now()
    const id = docId(room)
    // SCALE-2.2: subscribe before loading; what the bus brings meanwhile is applied after the load.
    await this.#scale?.prepare(room)
    try {
      const stored = await this.#store.load(id)
      // RELAY-9.3: what Yjs cannot merge or apply is kept aside, reported and never served. RELAY-3.11: a large
      // document is screened (and merged, and its state vector computed) in the compaction worker while every
      // other room is served; joiners of this one wait for the whole of it.
      const screened = stored ? (await this.#compaction.screenLoad(stored)).result : null
      const quarantined = stored && screened ? quarantinedParts(stored, screened) : []
      let keptAside = false
      if (quarantined.length > 0) {
        this.#opts.logger.warn(
          { doc: id, quarantined: quarantined.map((q) => ({ source: q.source, reason: q.reason })) },
          'stored updates Yjs cannot merge or apply were quarantined',
        )
        try {
          await keepAside(this.#store, id, quarantined)
          keptAside = true
        } catch (err) {
          this.#opts.logger.error({ err, doc: id }, 'could not keep the quarantined updates aside')
        }
      }
      const hooks = this.#hooks
      const doc = new RelayRoom(id, stored, this.#services, {
        parts: screened?.merged ? [screened.merged] : [],
        stateVector: screened?.stateVector ?? null,
      })
      // RELAY-9.5: the screen walked the whole state; its depth is exact.
      doc.nestingMeasured(screened?.depth ?? 0)
      // RELAY-EPOCH-1: the room is served in its stored epoch.
      doc.epoch.loaded(this.epochs.storedRecord(doc, stored?.meta ?? {}))
      // Decode once now: a corrupted store fails here, not in front of a client (computed by the screen already, unless
      // Yjs refused it there: then the log salvages here).
      doc.log.stateVector()
      let collected = false
      try {
        collected = this.#compaction.loaded(doc, stored)
      } catch (err) {
        // RELAY-9.3: a rebuild that Yjs refuses leaves the document as loaded (served, not collected).
        this.#opts.logger.error({ err, doc: id }, 'garbage collection on load failed')
      }
      // HOOK-2: before anyone is answered (nobody sees the document before it is in #docs).
      if (hooks?.screensLoads) await hooks.load(room, doc.lastClock, doc.log.byteLength)
      this.#docs.set(room, doc)
      this.#scale?.attach(room, doc, stored?.clock ?? 0)
      this.#opts.metrics.docLoads.inc()
      this.#opts.metrics.loadSeconds.observe((performance.now() - started) / 1000)
      // Rebuilds again rather than storing the load's rebuild: attach() may have appended what the bus brought.
      // A quarantine is then dropped from the document's own log (it stays in the quarantine).
      if (collected || keptAside) this.#compaction.maybeCompact(doc, true)
      return doc
    } catch (err) {
      this.#scale?.release(room)
      throw err
    }
  }

  /** A connection of `doc` closed (called by the connection). */
  leave(doc: RelayRoom, conn: RelayConnection): void {
    this.#hooks?.disconnect(conn)
    this.#rules?.leave(conn)
    if (!doc.left(conn)) return
    const removal = doc.awareness.removeOwner(conn)
    if (removal) doc.broadcast(encodeAwareness(removal))
    if (this.#connections(doc) === 0 && !this.#closed) {
      doc.emptied(this.#idleUnloadMs, () => void this.#unload(doc))
    }
  }

  async #unload(doc: RelayRoom): Promise<void> {
    await doc.whenDurable().catch(() => undefined)
    if (this.#connections(doc) > 0 || doc.idle || doc.pending || doc.compacting || doc.epochBusy) return
    if (this.#docs.get(doc.docId) !== doc) return
    this.#docs.delete(doc.docId)
    this.#scale?.release(doc.docId)
    this.#opts.metrics.docUnloads.inc()
    this.#opts.logger.debug({ doc: doc.docId }, 'document unloaded')
  }
}

import * as Y from 'yjs'
import { type DocId, type EpochRecord, type StoredDoc } from '@weft/core'
import { MAX_NESTING_DEPTH, updateMessageParts } from '@weft/core/protocol'
import { AwarenessTable } from './AwarenessTable.js'
import type { EpochArchive } from './relayEpochArchive.js'
import type { CommitTarget } from './GroupCommitter.js'
import { SharedMessage } from './SharedMessage.js'
import { UpdateLog } from './UpdateLog.js'

/** What a {@link RelayRoom} needs from each of its connections. */
export interface RelayPeer {
  /**
   * Sends one message, chunking it for Weft peers that negotiated a smaller size. A {@link SharedMessage} is the
   * same message for every peer of a broadcast (its socket encoding is built once).
   */
  sendMessage(message: Uint8Array | SharedMessage): void
}

/** Archives of left epochs kept in memory per room. */
const MAX_CACHED_ARCHIVES = 4

/** An update accepted during an epoch switch, with the promise of its durability. */
export interface Held {
  readonly update: Uint8Array
  resolve(): void
  reject(err: unknown): void
}

/**
 * Epoch state of one loaded room (RELAY-EPOCH-*), kept by its {@link RelayRoom}: its epoch record, its queue of
 * switches, the updates held during a switch and the archives of left epochs it loaded. `RelayEpochs` and
 * `runEpochSwitch` tell it what happened; each field has one writer, this class.
 */
export class RoomEpoch {
  #record: EpochRecord | null = null
  /** Switches of this room run one after the other. */
  #queue: Promise<void> = Promise.resolve()
  #tasks = 0
  /** Updates accepted while a switch runs (not stored yet: RELAY-EPOCH-4), or `null` outside a switch. */
  #held: Held[] | null = null
  /** Archives of left epochs, loaded on demand (a few per room, the oldest dropped first). */
  readonly #archives = new Map<string, Promise<EpochArchive | null>>()
  #lastAutoCheck = -Infinity

  /** The room's epoch record (`null` in the initial epoch `"0"`). */
  get record(): EpochRecord | null {
    return this.#record
  }
  /** Switches queued or running. */
  get tasks(): number {
    return this.#tasks
  }
  /** When the auto-start policy was last checked (ms since the epoch). */
  get lastAutoCheck(): number {
    return this.#lastAutoCheck
  }
  /** Whether updates are being held for a switch (RELAY-EPOCH-4). */
  get holding(): boolean {
    return this.#held !== null
  }

  /** The room was loaded in the epoch of `record` (RELAY-EPOCH-1). */
  loaded(record: EpochRecord | null): void {
    this.#record = record
  }

  /** Queues `task` after the room's other switches; `failed` is told if it throws. Returns the queued run. */
  enqueue(task: () => Promise<void>, failed: (err: unknown) => void): Promise<void> {
    this.#tasks++
    const run = this.#queue
      .then(task)
      .catch(failed)
      .finally(() => {
        this.#tasks--
      })
    this.#queue = run
    return run
  }

  /** The auto-start policy was checked at `now`. */
  autoChecked(now: number): void {
    this.#lastAutoCheck = now
  }

  /** A switch starts: updates accepted from now on are held (RELAY-EPOCH-4); returns the list that holds them. */
  startHolding(): Held[] {
    const held: Held[] = []
    this.#held = held
    return held
  }

  /** Holds one more update for the running switch; `false` when no switch holds updates. */
  hold(held: Held): boolean {
    if (!this.#held) return false
    this.#held.push(held)
    return true
  }

  /** The switch ended: returns what is still held, and holds no more. */
  stopHolding(): Held[] {
    const held = this.#held ?? []
    this.#held = null
    return held
  }

  /** The room switched to `record`; `archive` is that of the epoch it left (kept for its clients, RELAY-EPOCH-3). */
  switched(record: EpochRecord, archive: EpochArchive): void {
    this.#record = record
    this.#held = null
    this.#archives.set(archive.epoch, Promise.resolve(archive))
  }

  /** The archive of the left epoch `epoch`: the cached one, or `load`'s (then cached; a few per room). */
  archive(epoch: string, load: () => Promise<EpochArchive | null>): Promise<EpochArchive | null> {
    let archive = this.#archives.get(epoch)
    if (!archive) {
      archive = load()
      this.#archives.set(epoch, archive)
      if (this.#archives.size > MAX_CACHED_ARCHIVES) {
        const oldest = this.#archives.keys().next().value
        if (oldest !== undefined) this.#archives.delete(oldest)
      }
    }
    return archive
  }

  /** Loading the archive of `epoch` failed: forgotten, so that the next client's request loads it again. */
  archiveFailed(epoch: string): void {
    this.#archives.delete(epoch)
  }
}

/** What the compaction policies read of a room (RELAY-3.4, 3.6, 3.7): its counters, as they are now. */
export interface RoomCounters {
  /** Updates stored after the snapshot, and their bytes. */
  readonly tailCount: number
  readonly tailBytes: number
  readonly snapshotBytes: number
  /** Clock units of deleted content accepted since the last garbage collection (RELAY-3.6). */
  readonly deletedSinceGc: number
  /** Bytes of the in-memory state after its last garbage collection (or load). */
  readonly baseline: number
}

/**
 * One document loaded in the relay, and everything the relay keeps of it: its state as an {@link UpdateLog} (no
 * Y.Doc), its presence table, the connections in the room, its commit and compaction bookkeeping and its epoch state.
 * Created only from a completed store load, so nobody is answered before the stored state is in. Other classes read
 * its counters and tell it what happened (`committed`, `compacted`, `replaced`, ...): each counter has one writer,
 * this class.
 */
export class RelayRoom implements CommitTarget, RoomCounters {
  readonly docId: DocId
  /** The document's state; its answers to joiners are shared messages (RELAY-2.3, framed once per join storm). */
  readonly log: UpdateLog<SharedMessage>
  readonly awareness = new AwarenessTable()
  readonly #peers = new Set<RelayPeer>()
  /** The room's epoch state (RELAY-EPOCH-*). */
  readonly epoch = new RoomEpoch()
  #lastClock: number
  #tailCount: number
  #tailBytes: number
  #snapshotBytes: number
  #deletedSinceGc: number
  #baseline = 0
  #nestingBound = MAX_NESTING_DEPTH
  #compacting = false
  #compaction: Promise<void> | undefined = undefined
  #idleTimer: NodeJS.Timeout | null = null
  readonly #onCommitted: (doc: RelayRoom) => void

  /**
   * `parts`: the servable state in V1 when the load screened `stored` (RELAY-9.3, `screenStoredDoc`); without it, the
   * stored snapshot and tail as they are. `onCommitted`: told after each durable write of the document.
   */
  constructor(
    docId: DocId,
    stored: StoredDoc | null,
    onCommitted: (doc: RelayRoom) => void,
    parts?: readonly Uint8Array[],
  ) {
    this.docId = docId
    // Snapshots are stored in V2 (STORE-3.6), the tail in V1; the relay works in V1 throughout.
    const snapshot = stored?.snapshot ? [Y.convertUpdateFormatV2ToV1(stored.snapshot)] : []
    this.log = new UpdateLog<SharedMessage>(parts ?? [...snapshot, ...(stored?.updates ?? [])])
    this.#lastClock = stored?.clock ?? 0
    this.#tailCount = stored?.updates.length ?? 0
    this.#tailBytes = stored ? stored.updates.reduce((n, u) => n + u.byteLength, 0) : 0
    this.#snapshotBytes = stored?.snapshot?.byteLength ?? 0
    this.#deletedSinceGc = this.#tailCount > 0 ? 1 : 0
    this.#onCommitted = onCommitted
  }

  /** The connections in the room (and, in scale-out mode, its bus peer). */
  get peers(): ReadonlySet<RelayPeer> {
    return this.#peers
  }
  /** Store clock of the last durable write. */
  get lastClock(): number {
    return this.#lastClock
  }
  /** Updates stored after the snapshot (for the compaction policy). */
  get tailCount(): number {
    return this.#tailCount
  }
  /** Bytes of the updates stored after the snapshot. */
  get tailBytes(): number {
    return this.#tailBytes
  }
  /** Bytes of the stored snapshot. */
  get snapshotBytes(): number {
    return this.#snapshotBytes
  }
  /**
   * Whether updates since the last garbage collection (RELAY-3.6) may hold deleted content: clock units their
   * delete sets cover, counted as they are accepted; an update whose content is not known counts as 1.
   */
  get deletedSinceGc(): number {
    return this.#deletedSinceGc
  }
  /** Bytes of the in-memory state after its last garbage collection (or load): the base of the growth rules. */
  get baseline(): number {
    return this.#baseline
  }
  /**
   * An upper bound of how deep the document's shared types nest (RELAY-9.5, `checkNesting`). Unknown after a load or
   * an epoch switch: the limit itself, so that the first nested insert computes it exactly.
   */
  get nestingBound(): number {
    return this.#nestingBound
  }
  /** Whether an epoch switch of this document is queued or running (RELAY-EPOCH-4). */
  get epochBusy(): boolean {
    return this.epoch.tasks > 0
  }
  /** Whether a log compaction of this document runs (at most one at a time). */
  get compacting(): boolean {
    return this.#compacting
  }
  /** The running (or last) log compaction, if any. */
  get compaction(): Promise<void> | undefined {
    return this.#compaction
  }
  /** Whether the room is waiting to be unloaded (no connections). */
  get idle(): boolean {
    return this.#idleTimer !== null
  }

  /** Called by the group committer once a write of this document is durable. */
  onCommitted(clock: number, bytes: number, appends: number): void {
    this.#lastClock = Math.max(this.#lastClock, clock)
    this.#tailCount += appends
    this.#tailBytes += bytes
    this.#onCommitted(this)
  }

  /** An update whose delete set covers `deleted` clock units was appended to the log (RELAY-3.6). */
  acceptedDeletes(deleted: number): void {
    this.#deletedSinceGc += deleted
  }

  /**
   * An update another node stored was appended to the log (SCALE-2): it is in the stored tail, may delete
   * `deleted` clock units and nests up to `depth` levels more (RELAY-9.5: counted, not refused).
   */
  appliedStored(bytes: number, deleted: number, depth: number): void {
    this.#deletedSinceGc += deleted
    this.#nestingBound += depth
    this.#tailCount++
    this.#tailBytes += bytes
  }

  /** An accepted update nests up to `depth` levels more (RELAY-9.5): the bound grows. */
  nestedBy(depth: number): void {
    this.#nestingBound += depth
  }

  /** The state (with any update about to be appended) was walked: its types nest exactly `depth` deep (RELAY-9.5). */
  nestingMeasured(depth: number): void {
    this.#nestingBound = depth
  }

  /** The state was loaded (and perhaps garbage-collected): its size is the base of the growth rules. */
  loaded(): void {
    this.#baseline = this.log.byteLength
  }

  /** A log compaction starts (the caller then hands its work to {@link compactionRuns}). */
  compactionStarts(): void {
    this.#compacting = true
  }

  /** `work` is the running log compaction; returns it as tracked (the room is `compacting` until it settles). */
  compactionRuns(work: Promise<void>): Promise<void> {
    const run = work.finally(() => {
      this.#compacting = false
    })
    this.#compaction = run
    return run
  }

  /**
   * A compaction rebuilt the state as of its start as `v1`: it replaces that part of the log, and what was deleted
   * before the start (`deletedBefore`) is collected.
   */
  rebuilt(v1: Uint8Array, deletedBefore: number): void {
    this.log.rebase([v1])
    this.#deletedSinceGc = Math.max(0, this.#deletedSinceGc - deletedBefore)
    this.#baseline = v1.byteLength
  }

  /** A rebuild of a state of `size` bytes failed: not retried before the next growth step. */
  rebuildFailed(size: number): void {
    this.#baseline = Math.max(this.#baseline, size)
  }

  /** A compaction stored a snapshot of `snapshotBytes` replacing `count` tail updates of `bytes` bytes. */
  compacted(count: number, bytes: number, snapshotBytes: number): void {
    this.#tailCount = Math.max(0, this.#tailCount - count)
    this.#tailBytes = Math.max(0, this.#tailBytes - bytes)
    this.#snapshotBytes = snapshotBytes
  }

  /** Another node compacted the document (SCALE-4.3): the stored tail is gone, the snapshot has `snapshotBytes`. */
  compactedElsewhere(snapshotBytes: number): void {
    this.#tailCount = 0
    this.#tailBytes = 0
    this.#snapshotBytes = snapshotBytes
  }

  /**
   * After a remote compaction the log was replaced by the stored state (`stored`, its snapshot in V1 as `snapshotV1`);
   * what arrived since the mark stays counted (`deletedBefore` were counted at the mark), the stored tail's content
   * is not known.
   */
  reloaded(snapshotV1: Uint8Array, updates: readonly Uint8Array[], deletedBefore: number): void {
    this.log.rebase([snapshotV1, ...updates])
    this.#tailCount = updates.length
    this.#deletedSinceGc = this.#deletedSinceGc - deletedBefore + (updates.length > 0 ? 1 : 0)
    this.#baseline = this.log.byteLength
    this.#tailBytes = updates.reduce((n, u) => n + u.byteLength, 0)
  }

  /** RELAY-EPOCH-4: the document switched epochs; its state is `v1`, stored as one snapshot of `snapshotBytes`. */
  replaced(v1: Uint8Array, snapshotBytes: number): void {
    this.log.unmark()
    this.log.rebase([v1])
    this.#tailCount = 0
    this.#tailBytes = 0
    this.#deletedSinceGc = 0
    this.#nestingBound = MAX_NESTING_DEPTH
    this.#snapshotBytes = snapshotBytes
    this.#baseline = v1.byteLength
  }

  /** `peer` joined the room: it is no longer idle. */
  joined(peer: RelayPeer): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer)
    this.#idleTimer = null
    this.#peers.add(peer)
  }

  /** `peer` left the room; `false` when it was not in it. */
  left(peer: RelayPeer): boolean {
    return this.#peers.delete(peer)
  }

  /** The room has no connections left: `unload` runs after `ms` unless someone joins first. */
  emptied(ms: number, unload: () => void): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer)
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = null
      unload()
    }, ms)
    this.#idleTimer.unref()
  }

  /** The relay closes: no unload timer stays. */
  closed(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer)
    this.#idleTimer = null
  }

  /**
   * Sends `message` to every connection in the room except `except`. With more than one receiver it goes out as one
   * {@link SharedMessage}: the WebSocket frame is built once and the same bytes are written to every socket (peers
   * that need it chunked still get chunks).
   */
  broadcast(message: Uint8Array | SharedMessage, except?: RelayPeer): void {
    const receivers = this.#receivers(except)
    if (receivers <= 0) return
    const out = receivers > 1 && !(message instanceof SharedMessage) ? new SharedMessage([message]) : message
    for (const peer of this.#peers) if (peer !== except) peer.sendMessage(out)
  }

  /**
   * Forwards `update` as a sync update message (tagged with `epoch` outside epoch "0") to every connection except
   * `except`, as one {@link SharedMessage} made of the message's parts: its frame is built straight from the update,
   * one allocation and one copy whatever its size, and written to every socket.
   */
  broadcastUpdate(update: Uint8Array, epoch: string | null, except?: RelayPeer): void {
    if (this.#receivers(except) > 0)
      this.broadcast(new SharedMessage(updateMessageParts('update', update, null, epoch)), except)
  }

  #receivers(except: RelayPeer | undefined): number {
    return this.#peers.size - (except !== undefined && this.#peers.has(except) ? 1 : 0)
  }
}

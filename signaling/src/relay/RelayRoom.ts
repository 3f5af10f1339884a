import type { Logger } from 'pino'
import * as Y from 'yjs'
import { CloseCode, closeCodeName, type DocId, type EpochRecord, type StoredDoc } from '@weft/core'
import type { ItemCounts } from '@weft/core/epochs'
import {
  MAX_NESTING_DEPTH,
  updateMessageParts,
  validateUpdate,
  type UpdateSummary,
} from '@weft/core/protocol'
import type { ServerMetrics } from '../metrics/ServerMetrics.js'
import { WeftServerError } from '../WeftServerError.js'
import { AwarenessTable, awarenessMessage, type PresenceLimits } from './AwarenessTable.js'
import type { PresenceTicker } from './PresenceTicker.js'
import { changesNothing } from './changesNothing.js'
import { deletesOnly } from './deletesOnly.js'
import { checkNesting } from './checkNesting.js'
import type { CommitTarget, GroupCommitter } from './GroupCommitter.js'
import type { RelayCompaction } from './RelayCompaction.js'
import type { EpochArchive } from './relayEpochArchive.js'
import { isEpochPeer } from './RelayEpochPeer.js'
import { RoomEpoch, type EpochSettings } from './RoomEpoch.js'
import type { SwitchingRoom } from './runEpochSwitch.js'
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
 * The room's state as others may see it: read only (its writer is the room; a join's answer is cached inside it,
 * which changes no content).
 */
export type RoomLog = Readonly<
  Pick<
    UpdateLog<SharedMessage>,
    'byteLength' | 'changes' | 'parts' | 'state' | 'stateVector' | 'answer' | 'dropped' | 'lacksOnlyTail'
  >
>

/**
 * What every room of a relay shares, made once by the hub: the group committer (each room's commit handle: the room
 * is its commit target), log compaction, the epoch settings, the document size limit, metrics, the logger, and the
 * app's `onStored` notification (HOOK-5). Nothing in it calls back into the hub.
 */
export interface RoomServices {
  readonly committer: GroupCommitter
  readonly compaction: RelayCompaction
  readonly epochs: EpochSettings
  /** RELAY-9.4: the largest document state, in bytes. */
  readonly maxDocBytes: number
  readonly metrics: ServerMetrics
  readonly logger: Logger
  /** HOOK-5: told after each durable write of a room, in commit order (`null`: no `onStored` hook). */
  readonly stored: ((docId: DocId, clock: number) => void) | null
  /** RELAY-6.5, 6.7: the relay's presence limits (defaults for what is not given). */
  readonly presence?: Partial<PresenceLimits> | undefined
  /** RELAY-6.8: where the rooms' presence windows end, shared by every room of the relay. */
  readonly presenceTicker?: PresenceTicker | undefined
}

/** A stored document's servable state as a load's screen left it (RELAY-9.3). */
export interface ScreenedState {
  /** The state in V1 (one merged part, or none). */
  readonly parts: readonly Uint8Array[]
  /** The state vector of `parts`, if the screen computed it (else the log computes it when first asked). */
  readonly stateVector: Uint8Array | null
}

/** The outcome of a refused update for whoever waits on it: rejected, and never an unhandled rejection. */
export const refusedUpdate = (docId: string): Promise<void> => {
  const refused = Promise.reject(
    new WeftServerError('rejected-update', `an update of ${JSON.stringify(docId)} was refused`),
  )
  refused.catch(() => undefined)
  return refused
}

/**
 * One document loaded in the relay, and everything the relay keeps of it: its state as an {@link UpdateLog} (no
 * Y.Doc), its presence table, the connections in the room, its commit handle and compaction bookkeeping, and its
 * epoch ({@link RoomEpoch}). Created only from a completed store load, so nobody is answered before the stored state
 * is in. The room is the one writer of its log and counters: updates come in through {@link RelayRoom.accept} (a
 * connection's) and {@link RelayRoom.applyStored} (another node's), and compaction, scale-out and the epoch switch
 * tell it what happened (`rebuilt`, `compacted`, `compactedElsewhere`, `reloaded`, `switchedTo`, ...). Its epoch
 * switch runs on the room itself: quiesce, commit and replace go through the room's own commit handle, not the hub.
 * Members are any {@link RelayPeer}s (a connection over any `RelaySocket`, the scale-out bus peer).
 */
export class RelayRoom implements CommitTarget, RoomCounters, SwitchingRoom {
  readonly docId: DocId
  /** The document's state; its answers to joiners are shared messages (RELAY-2.3, framed once per join storm). */
  readonly #log: UpdateLog<SharedMessage>
  /** Presence; its coalescing window follows the number of members (RELAY-6.7). */
  readonly awareness: AwarenessTable
  readonly #peers = new Set<RelayPeer>()
  /** The room's epoch (RELAY-EPOCH-*). */
  readonly epoch: RoomEpoch
  readonly #services: RoomServices
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

  /**
   * `screened`: the servable state in V1 and its state vector when the load screened `stored` (RELAY-9.3,
   * `screenStoredParts`); without it, the stored snapshot and tail as they are. `services`: what every room of the
   * relay shares.
   */
  constructor(docId: DocId, stored: StoredDoc | null, services: RoomServices, screened?: ScreenedState) {
    this.docId = docId
    if (screened) {
      this.#log = new UpdateLog<SharedMessage>(screened.parts, screened.stateVector)
    } else {
      // Snapshots are stored in V2 (STORE-3.6), the tail in V1; the relay works in V1 throughout. Converted only here:
      // a screened load converted it already (twice was 1.9 s of a 29 MiB room's load, outside review R1).
      const snapshot = stored?.snapshot ? [Y.convertUpdateFormatV2ToV1(stored.snapshot)] : []
      this.#log = new UpdateLog<SharedMessage>([...snapshot, ...(stored?.updates ?? [])])
    }
    this.#lastClock = stored?.clock ?? 0
    this.#tailCount = stored?.updates.length ?? 0
    this.#tailBytes = stored ? stored.updates.reduce((n, u) => n + u.byteLength, 0) : 0
    this.#snapshotBytes = stored?.snapshot?.byteLength ?? 0
    this.#deletedSinceGc = this.#tailCount > 0 ? 1 : 0
    this.#services = services
    this.epoch = new RoomEpoch(this, services.epochs)
    // RELAY-6.1: presence goes to every connection of the room, framed once (a shared message built from the update).
    this.awareness = new AwarenessTable(
      services.presence,
      () => this.#peers.size,
      (update) => this.broadcast(awarenessMessage(update)),
      services.presenceTicker,
    )
  }

  /** The document's state, read only. */
  get log(): RoomLog {
    return this.#log
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
  /** Whether the room has accepted updates not yet durable. */
  get pending(): boolean {
    return this.#services.committer.pending(this)
  }

  // ---- Updates in: the room is its log's one writer

  /**
   * A connection's validated, non-empty update (`summary`: what its validation found): stored and forwarded to the
   * room's other members; resolves once durable. During an epoch switch it is forwarded (still in the old epoch) and
   * held, stored once the switch is done (RELAY-EPOCH-4). A refused update (RELAY-9.1, 9.4, 9.5) is neither held,
   * stored nor forwarded, `from` is closed with the code, and the promise rejects; the room carries on. An update
   * that changes nothing (RELAY-3.9) resolves as the empty update does.
   */
  accept(update: Uint8Array, from: RelayPeer, summary: UpdateSummary): Promise<void> {
    if (!this.epochBusy && changesNothing(this.#log, update)) return this.whenDurable()
    const durable = this.epoch.hold(update) ?? this.#take(update, summary, from)
    if (!durable) return refusedUpdate(this.docId)
    this.broadcastUpdate(update, this.epoch.tag, from)
    return durable
  }

  /** The epoch switch's own update (re-applied held changes, RELAY-EPOCH-4): stored and forwarded to every member. */
  commitAndForward(update: Uint8Array): Promise<void> {
    const durable = this.#take(update)
    if (!durable) return refusedUpdate(this.docId)
    this.broadcastUpdate(update, this.epoch.tag)
    return durable
  }

  /**
   * An update another node stored (SCALE-2), brought by `from` (the bus peer): into the log and to the other members,
   * never stored again. Already stored, so never refused for nesting (RELAY-9.5: the bound grows). `false` when it
   * does not validate or Yjs cannot merge it (SCALE-2.7: the caller logs and skips it).
   */
  applyStored(update: Uint8Array, from: RelayPeer): boolean {
    let summary: UpdateSummary
    try {
      summary = validateUpdate(update, { strings: true })
      if (!this.#log.append(update)) return false
    } catch {
      return false
    }
    this.#deletedSinceGc += summary.deleted
    this.#nestingBound += summary.depth
    this.#tailCount++
    this.#tailBytes += update.byteLength
    // Untagged, as before: in scale-out mode the relay takes part in no epoch switch (RELAY-EPOCH-7).
    this.broadcastUpdate(update, null, from)
    return true
  }

  /**
   * Appends to the in-memory state and queues for storage through the room's commit handle; `null` when the update
   * is refused (RELAY-9.1, RELAY-9.4): the document would grow past `maxDocBytes`, or Yjs cannot merge it. Then
   * nothing of it is held, stored or forwarded, and `from` (if a connection) is closed with `DocumentTooLarge` or
   * `RejectedUpdate`. `summary`: what the update's validation found (walked again here when not given).
   */
  #take(update: Uint8Array, summary?: UpdateSummary, from?: RelayPeer): Promise<void> | null {
    const limit = this.#services.maxDocBytes
    // RELAY-9.6: an update that only deletes what the document holds is never refused for size.
    if (this.#log.byteLength + update.byteLength > limit && !deletesOnly(this.#log, update)) {
      return this.#refuse(from, CloseCode.DocumentTooLarge, `the document would exceed ${limit} bytes`)
    }
    let deleted: number
    try {
      const found = summary ?? validateUpdate(update)
      deleted = found.deleted
      checkNesting(this, update, found.depth)
    } catch (err) {
      return this.#refuse(from, CloseCode.RejectedUpdate, err instanceof Error ? err.message : String(err))
    }
    if (!this.#log.append(update)) {
      return this.#refuse(from, CloseCode.RejectedUpdate, 'the update cannot be merged into the document')
    }
    // RELAY-3.6: deleted content is counted as it is accepted.
    this.#deletedSinceGc += deleted
    const metrics = this.#services.metrics
    metrics.updates.inc()
    metrics.updateBytes.inc({}, update.byteLength)
    return this.#services.committer.add(this, update)
  }

  #refuse(from: RelayPeer | undefined, code: CloseCode, reason: string): null {
    this.#services.logger.warn({ doc: this.docId, code: closeCodeName(code), reason }, 'update refused')
    if (from && isEpochPeer(from)) from.closeWith(code, reason)
    return null
  }

  // ---- The commit handle

  /** Called by the group committer once a write of this room is durable: compaction's policy, then HOOK-5. */
  onCommitted(clock: number, bytes: number, appends: number): void {
    this.#lastClock = Math.max(this.#lastClock, clock)
    this.#tailCount += appends
    this.#tailBytes += bytes
    this.#services.compaction.maybeCompact(this)
    this.#services.stored?.(this.docId, this.#lastClock)
  }

  /** A promise that resolves once everything the room accepted so far is durable. */
  whenDurable(): Promise<void> {
    return this.#services.committer.whenDurable(this)
  }

  /** Resolves once every accepted update of the room is durable and no log compaction of it runs. */
  async quiesce(): Promise<void> {
    while (this.#compacting || this.pending) {
      await this.#compaction
      await this.whenDurable().catch(() => undefined)
    }
  }

  // ---- Compaction tells the room what happened

  /**
   * RELAY-3.7: a member whose state vector is `sv` is about to be answered from the room's state: a chance to compact
   * it first.
   */
  beforeAnswer(sv: Uint8Array): void {
    this.#services.compaction.beforeAnswer(this, sv)
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
    this.#baseline = this.#log.byteLength
  }

  /**
   * A log compaction starts (the caller then hands its work to {@link RelayRoom.compactionRuns}). `marked`: it works
   * on a copy of the state taken now, so what is appended meanwhile is recorded, to be kept on top of its result.
   */
  compactionStarts(marked: boolean): void {
    this.#compacting = true
    if (marked) this.#log.mark()
  }

  /** `work` is the running log compaction; returns it as tracked (the room is `compacting` until it settles). */
  compactionRuns(work: Promise<void>): Promise<void> {
    const run = work.finally(() => {
      this.#compacting = false
    })
    this.#compaction = run
    return run
  }

  /** The running compaction will not replace the state: what was recorded since its start is no longer needed. */
  compactionAbandoned(): void {
    this.#log.unmark()
  }

  /**
   * A compaction rebuilt the state as of its start as `v1`: it replaces that part of the log, and what was deleted
   * before the start (`deletedBefore`) is collected.
   */
  rebuilt(v1: Uint8Array, deletedBefore: number): void {
    // The same content, garbage-collected: a view built from the log still matches it (RULES-4.10).
    this.#log.rebase([v1], 'same')
    this.#deletedSinceGc = Math.max(0, this.#deletedSinceGc - deletedBefore)
    this.#baseline = v1.byteLength
  }

  /** A rebuild of a state of `size` bytes failed: abandoned, and not retried before the next growth step. */
  rebuildFailed(size: number): void {
    this.compactionAbandoned()
    this.#baseline = Math.max(this.#baseline, size)
  }

  /**
   * A compaction stored a snapshot of `snapshotBytes` replacing `count` tail updates of `bytes` bytes; its rebuild
   * counted `counts` of the history: the room's epoch asks its start policy (RELAY-EPOCH-5).
   */
  compacted(count: number, bytes: number, snapshotBytes: number, counts: ItemCounts): void {
    this.#tailCount = Math.max(0, this.#tailCount - count)
    this.#tailBytes = Math.max(0, this.#tailBytes - bytes)
    this.#snapshotBytes = snapshotBytes
    this.epoch.compacted(counts)
  }

  /**
   * Another node compacted the document (SCALE-4.3): the stored tail is gone, the snapshot has `snapshotBytes`; the
   * log is reloaded from the store when nothing of the room is waiting to be written.
   */
  compactedElsewhere(snapshotBytes: number): void {
    this.#tailCount = 0
    this.#tailBytes = 0
    this.#snapshotBytes = snapshotBytes
    this.#services.compaction.reload(this)
  }

  /**
   * After a remote compaction the log was replaced by the stored state (`stored`, its snapshot in V1 as `snapshotV1`);
   * what arrived since the mark stays counted (`deletedBefore` were counted at the mark), the stored tail's content
   * is not known.
   */
  reloaded(snapshotV1: Uint8Array, updates: readonly Uint8Array[], deletedBefore: number): void {
    // What another node stored may hold updates this node has not applied yet: a change of content.
    this.#log.rebase([snapshotV1, ...updates], 'changed')
    this.#tailCount = updates.length
    this.#deletedSinceGc = this.#deletedSinceGc - deletedBefore + (updates.length > 0 ? 1 : 0)
    this.#baseline = this.#log.byteLength
    this.#tailBytes = updates.reduce((n, u) => n + u.byteLength, 0)
  }

  /**
   * RELAY-EPOCH-4: the switch to `record` is stored. The state becomes `v1` (stored as one snapshot of
   * `snapshotBytes`), the epoch keeps `archive` of the epoch left, and every client connection's handshake starts
   * again (`ProtocolPath.epochChanged`: Weft writers, and Weft readers not yet in the new epoch, get the relay's step 1
   * with the new hello; stock clients hold old-epoch state and are closed), in one synchronous step.
   */
  switchedTo(record: EpochRecord, archive: EpochArchive, v1: Uint8Array, snapshotBytes: number): void {
    this.epoch.switched(record, archive)
    this.#log.unmark()
    this.#log.rebase([v1], 'changed')
    this.#tailCount = 0
    this.#tailBytes = 0
    this.#deletedSinceGc = 0
    this.#nestingBound = MAX_NESTING_DEPTH
    this.#snapshotBytes = snapshotBytes
    this.#baseline = v1.byteLength
    for (const peer of [...this.#peers]) if (isEpochPeer(peer)) peer.epochChanged()
  }

  // ---- Members

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

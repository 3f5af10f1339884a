import * as Y from 'yjs'
import { type DocId, type StoredDoc } from '@weft/core'
import { MAX_NESTING_DEPTH, updateMessageParts } from '@weft/core/protocol'
import { AwarenessTable } from './AwarenessTable.js'
import type { CommitTarget } from './GroupCommitter.js'
import { SharedMessage } from './SharedMessage.js'
import { UpdateLog } from './UpdateLog.js'

/** What a {@link RelayDoc} needs from each of its connections. */
export interface RelayPeer {
  /**
   * Sends one message, chunking it for Weft peers that negotiated a smaller size. A {@link SharedMessage} is the
   * same message for every peer of a broadcast (its socket encoding is built once).
   */
  sendMessage(message: Uint8Array | SharedMessage): void
}

/**
 * One document loaded in the relay: its state as an {@link UpdateLog} (no Y.Doc), its presence table, the
 * connections in the room, and the bookkeeping for log compaction. Created only from a completed store load, so
 * nobody is answered before the stored state is in.
 */
export class RelayDoc implements CommitTarget {
  readonly docId: DocId
  /** The document's state; its answers to joiners are shared messages (RELAY-2.3, framed once per join storm). */
  readonly log: UpdateLog<SharedMessage>
  readonly awareness = new AwarenessTable()
  readonly peers = new Set<RelayPeer>()
  /** Store clock of the last durable write. */
  lastClock: number
  /** Updates stored after the snapshot, and their bytes (for the compaction policy). */
  tailCount: number
  tailBytes: number
  snapshotBytes: number
  /**
   * Whether updates since the last garbage collection (RELAY-3.6) may hold deleted content: clock units their
   * delete sets cover, counted as they are accepted; an update whose content is not known counts as 1.
   */
  deletedSinceGc: number
  /**
   * An upper bound of how deep the document's shared types nest (RELAY-9.5, `checkNesting`). Unknown after a load or
   * an epoch switch: the limit itself, so that the first nested insert computes it exactly.
   */
  nestingBound = MAX_NESTING_DEPTH
  compacting = false
  idleTimer: NodeJS.Timeout | null = null
  readonly #onCommitted: (doc: RelayDoc) => void

  /**
   * `parts`: the servable state in V1 when the load screened `stored` (RELAY-9.3, `screenStoredDoc`); without it, the
   * stored snapshot and tail as they are.
   */
  constructor(
    docId: DocId,
    stored: StoredDoc | null,
    onCommitted: (doc: RelayDoc) => void,
    parts?: readonly Uint8Array[],
  ) {
    this.docId = docId
    // Snapshots are stored in V2 (STORE-3.6), the tail in V1; the relay works in V1 throughout.
    const snapshot = stored?.snapshot ? [Y.convertUpdateFormatV2ToV1(stored.snapshot)] : []
    this.log = new UpdateLog<SharedMessage>(parts ?? [...snapshot, ...(stored?.updates ?? [])])
    this.lastClock = stored?.clock ?? 0
    this.tailCount = stored?.updates.length ?? 0
    this.tailBytes = stored ? stored.updates.reduce((n, u) => n + u.byteLength, 0) : 0
    this.snapshotBytes = stored?.snapshot?.byteLength ?? 0
    this.deletedSinceGc = this.tailCount > 0 ? 1 : 0
    this.#onCommitted = onCommitted
  }

  /** Called by the group committer once a write of this document is durable. */
  onCommitted(clock: number, bytes: number, appends: number): void {
    this.lastClock = Math.max(this.lastClock, clock)
    this.tailCount += appends
    this.tailBytes += bytes
    this.#onCommitted(this)
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
    for (const peer of this.peers) if (peer !== except) peer.sendMessage(out)
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
    return this.peers.size - (except !== undefined && this.peers.has(except) ? 1 : 0)
  }
}

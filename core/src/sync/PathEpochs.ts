import * as Y from 'yjs'
import { encodeEpochOffer, encodeEpochRequest, encodeSyncStep1, type Hello } from '../protocol/messages.js'
import { epochClient } from '../storage/epochClient.js'
import {
  INITIAL_EPOCH,
  compareEpochs,
  epochSeq,
  decodeEpochRecord,
  encodeEpochRecord,
  type EpochRecord,
} from '../storage/epochRecord.js'
import { WeftError, WeftErrorCode, toWeftError } from '../WeftError.js'
import type { PeerPath } from './PeerPath.js'

/** What a session offers a peer in an older epoch (see `SyncSessionOptions.epochLineage`). */
export interface EpochOfferSource {
  readonly record: EpochRecord
  /** A document of `record.parent`, containing `record.base`, or null. */
  readonly oldDoc: Y.Doc | null
}

/** Finds what to offer a peer in an older epoch (see `SyncSessionOptions.epochLineage`). */
export type EpochLineage = (peerEpoch: string) => EpochOfferSource | null | Promise<EpochOfferSource | null>

/** What {@link PathEpochs} needs from its session. */
export interface PathEpochsHost {
  doc(): Y.Doc
  hello(): Hello | null
  isOpen(path: PeerPath): boolean
  paths(): Iterable<PeerPath>
  send(path: PeerPath, message: Uint8Array): void
  offered(path: PeerPath, record: EpochRecord, catchUp: Uint8Array): void
  archived(record: EpochRecord, catchUp: Uint8Array): void
  failed(error: WeftError): void
}

/**
 * The epoch a peer is in, judged from its step 1 (SYNC-9.5): what its hello says (absent: `"0"`); a stock peer cannot
 * say, so outside epoch 0 it counts as being in `ours` only when its state vector is empty or holds the epoch's init
 * writer, else in the epoch `ours` replaced. Shared by sessions and the relay.
 */
export const judgePeerEpoch = (
  ours: EpochRecord | null,
  hello: Hello | null,
  sv: Map<number, number>,
): string => {
  if (hello !== null) return hello.epoch ?? INITIAL_EPOCH
  if (ours === null || sv.size === 0 || sv.has(epochClient(ours.parent, 'init')))
    return ours?.id ?? INITIAL_EPOCH
  return ours.parent
}

/** The state vector of an empty document. */
const EMPTY_STATE_VECTOR = Y.encodeStateVector(new Y.Doc())

/**
 * The epoch rules of a sync session (docs/spec/sync-protocol.md, SYNC-9.*): which epoch each path is in, whether an
 * update may cross a path, offers to peers in older epochs and requests for epochs this side passed without keeping
 * them. Holds no document: the session owns it and moves it with {@link PathEpochs.moveTo}.
 */
export class PathEpochs {
  #record: EpochRecord | null
  readonly #lineage: EpochLineage | undefined
  readonly #host: PathEpochsHost
  readonly #wanted = new Set<string>()

  constructor(record: EpochRecord | null, lineage: EpochLineage | undefined, host: PathEpochsHost) {
    this.#record = record
    this.#lineage = lineage
    this.#host = host
  }

  /** The current epoch's id (`"0"` before any reset). */
  get id(): string {
    return this.#record?.id ?? INITIAL_EPOCH
  }

  get record(): EpochRecord | null {
    return this.#record
  }

  /** Moves to a new epoch (the session switched its document). */
  moveTo(record: EpochRecord): void {
    this.#record = record
  }

  /**
   * The tag for updates (SYNC-9.1): outside epoch 0, on every update to every peer (stock readers and Weft 1 ignore
   * trailing bytes), so no peer in another epoch can take it for one of its own.
   */
  get tag(): string | null {
    return this.#record?.id ?? null
  }

  /** Whether updates may go to `path`: it is in our epoch, or (in epoch 0 only) has not said yet. */
  open(path: PeerPath): boolean {
    return path.epoch === this.id || (path.epoch === null && this.#record === null)
  }

  /** Whether an update from `path` with this tag belongs to our epoch (SYNC-9.1). */
  admits(path: PeerPath, tag: string | null): boolean {
    if (tag !== null || path.hello !== null) return (tag ?? INITIAL_EPOCH) === this.id
    return this.open(path)
  }

  /**
   * Records the epoch a peer announced in its step 1 and decides whether to sync with it (SYNC-9.2, 9.5): same
   * epoch, sync (true); ours wins, offer ours; theirs wins, wait for their offer. A stock peer cannot say; outside
   * epoch 0 it counts as in ours only if it holds the epoch's init writer or nothing at all.
   */
  enter(path: PeerPath, sv: Map<number, number>, rawSv: Uint8Array): boolean {
    const before = path.epoch
    const theirs = judgePeerEpoch(this.#record, path.hello, sv)
    path.epoch = theirs
    const changed = before !== null && before !== theirs
    if (theirs === this.id) {
      // The peer just arrived in our epoch: ask again for what we may have dropped while it was elsewhere.
      if (changed) this.#stepOne(path)
      return true
    }
    if (path.hello === null) return false
    if (compareEpochs(this.id, theirs) < 0) this.#offer(path, theirs, rawSv, false)
    // The peer moved to a winning epoch: tell it ours (with our state vector) so that it offers its epoch to us.
    else if (changed) this.#stepOne(path)
    return false
  }

  /** A Weft peer said hello for the first time: ask it for the old epochs we are looking for (SYNC-9.7). */
  greeted(path: PeerPath): void {
    for (const e of this.#wanted) this.#host.send(path, encodeEpochRequest(e, EMPTY_STATE_VECTOR))
  }

  /** An epoch offer arrived (SYNC-9.3): a winning one goes to the owner, an old one answers our request (9.7). */
  onOffer(path: PeerPath, encodedRecord: Uint8Array, catchUp: Uint8Array): void {
    const decoded = decodeEpochRecord(encodedRecord)
    if (!decoded.ok) throw new WeftError(WeftErrorCode.MalformedMessage, `epoch record: ${decoded.reason}`)
    // COMPACT-4.3: never to a losing epoch, never back.
    if (compareEpochs(decoded.record.id, this.id) >= 0) this.#host.archived(decoded.record, catchUp)
    else this.#host.offered(path, decoded.record, catchUp)
  }

  /** A peer asks for an old epoch's state (SYNC-9.7): answered only for epochs we left. */
  onRequest(path: PeerPath, epoch: string, stateVector: Uint8Array): void {
    try {
      Y.decodeStateVector(stateVector)
      epochSeq(epoch)
    } catch (err) {
      throw new WeftError(WeftErrorCode.MalformedMessage, 'malformed epoch request', { cause: err })
    }
    if (compareEpochs(this.id, epoch) >= 0) return
    this.#offer(path, epoch, stateVector, true)
  }

  /** Asks every Weft peer, now and as they arrive, for an epoch we passed without keeping it (SYNC-9.7). */
  request(epoch: string): void {
    this.#wanted.add(epoch)
    const message = encodeEpochRequest(epoch, EMPTY_STATE_VECTOR)
    for (const p of this.#host.paths()) if (p.hello !== null) this.#host.send(p, message)
  }

  stopRequesting(epoch: string): void {
    this.#wanted.delete(epoch)
  }

  #stepOne(path: PeerPath): void {
    this.#host.send(path, encodeSyncStep1(Y.encodeStateVector(this.#host.doc()), this.#host.hello()))
  }

  /** SYNC-9.3: hands a peer in an older epoch the record to switch to, with the old-epoch catch-up we can give. */
  #offer(path: PeerPath, theirs: string, theirSv: Uint8Array, request: boolean): void {
    const current = this.#record
    if (current === null) return
    const send = (source: EpochOfferSource | null) => {
      if (!this.#host.isOpen(path) || this.#record !== current) return
      if (request ? !source?.oldDoc : path.epoch !== theirs) return
      const record = source?.record ?? current
      // A peer with nothing of the old epoch needs no catch-up (COMPACT-5.1 only matters for its own changes),
      // unless it asked for the old epoch's state (SYNC-9.7).
      const catchUp =
        source?.oldDoc && (request || Y.decodeStateVector(theirSv).size > 0)
          ? Y.encodeStateAsUpdate(source.oldDoc, theirSv)
          : new Uint8Array(0)
      this.#host.send(path, encodeEpochOffer(encodeEpochRecord(record), catchUp))
    }
    const lineageFailed = (err: unknown) =>
      this.#host.failed(toWeftError(WeftErrorCode.StoreFailed, err, 'epoch lineage failed'))
    let source: EpochOfferSource | null | Promise<EpochOfferSource | null>
    try {
      source = this.#lineage?.(theirs) ?? null
    } catch (err) {
      lineageFailed(err)
      source = null
    }
    // `send` never throws into a promise chain: a failure is an `error` event, never an unhandled rejection.
    const sendSafely = (found: EpochOfferSource | null) => {
      try {
        send(found)
      } catch (err) {
        this.#host.failed(toWeftError(WeftErrorCode.MalformedMessage, err, 'epoch offer failed'))
      }
    }
    if (source instanceof Promise) {
      source.then(sendSafely, (err: unknown) => {
        lineageFailed(err)
        sendSafely(null)
      })
    } else sendSafely(source)
  }
}

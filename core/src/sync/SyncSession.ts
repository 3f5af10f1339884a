import { ObservableV2 } from 'lib0/observable'
import * as awarenessProtocol from 'y-protocols/awareness'
import { equalFlat } from 'lib0/array'
import * as Y from 'yjs'
import type { PeerId } from '../ids.js'
import { requireYDoc } from '../requireYDoc.js'
import {
  Feature,
  encodeAwareness,
  encodeEpochRequest,
  encodeRejected,
  encodeRolledBack,
  encodeSyncStep2,
  encodeSyncUpdate,
  type WireMessage,
} from '../protocol/messages.js'
import { readAwarenessEntries } from '../protocol/readAwarenessClients.js'
import type { UpdateSummary } from '../protocol/validateUpdate.js'
import { compareEpochs, type EpochRecord } from '../storage/epochRecord.js'
import type { OwnClients } from '../storage/OwnClients.js'
import type { Transport } from '../transport/Transport.js'
import { WeftError, WeftErrorCode, toWeftError } from '../WeftError.js'
import { isEpochOrigin } from './epochOrigin.js'
import { epochIdOf } from './epochRules.js'
import { PeerRules, type Screened, type SessionRules } from './PeerRules.js'
import { ProtocolPath } from './ProtocolPath.js'
import type { EpochOffering, ProtocolDocState, ProtocolSide, Rejection } from './protocolPorts.js'
import {
  type DeleteSet,
  type KeptDeletions,
  type RemovedRange,
  isRollbackOrigin,
  keepLocalDeletions,
  rollbackUpdates,
} from './rollback.js'
import { drawClientId } from './drawClientId.js'
import { LocalSteps } from './localSteps.js'
import { refusedScope } from './refusedScope.js'
import { SessionPath } from './SessionPath.js'
import { encodeIntegrated } from './integratedUpdate.js'

/** Default largest message sent in one piece to a Weft peer: the safe WebRTC data-channel size. */
export const DEFAULT_CHUNK_SIZE = 16 * 1024
/** Default largest message (or reassembled chunked message) accepted from a peer. */
export const DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024

/** The peer id an `authority` predicate is asked with about a transport that has no open path (see `authority`). */
const NO_PEER = '' as PeerId

/** Options of {@link SyncSession}. */
export interface SyncSessionOptions {
  readonly doc: Y.Doc
  /** The document's awareness; the session creates (and later destroys) one when omitted. */
  readonly awareness?: awarenessProtocol.Awareness
  /** Messages larger than this are chunked for Weft peers (default 16 KiB; a transport's own limit wins). */
  readonly chunkSize?: number
  /** Largest message accepted from a peer, whole or reassembled (default 64 MiB). */
  readonly maxMessageSize?: number
  /**
   * Enables durable acks: resolves once everything applied to the document so far is durably stored (e.g.
   * `DocPersistence.flushed`). Without it this side never acknowledges.
   */
  readonly durable?: () => Promise<void>
  /**
   * Which transaction origins are local changes, counted by {@link SyncSession.localChanges}. Default: every
   * origin that is neither one of the session's peer paths, an epoch switch's (`isEpochOrigin`) nor a rollback's
   * deletion (`isRollbackOrigin`, never counted whatever this says).
   */
  readonly isLocalOrigin?: (origin: unknown) => boolean
  /** Announce Weft's extensions (default true). `false` makes this side behave exactly like a stock peer. */
  readonly extensions?: boolean
  /**
   * Roll back an update a relay rejected under the room's rules (docs/spec/rules.md, RULES-5; default true). Needs
   * `durable` (the relay names the rejected update by its sequence number). Announces the `rollback` feature; the
   * content of items deleted by local changes is kept from garbage collection so that it can be restored. Without it
   * a relay closes this session's connection on a rejection (`UpdateRejected`, 4405).
   */
  readonly rollback?: boolean
  /** Fully decode every incoming update before applying it (default true); see SYNC-3.4. */
  readonly validateUpdates?: boolean
  /**
   * The epoch `doc` belongs to (docs/spec/compaction.md): its record, or `null`/omitted for the initial epoch `"0"`.
   * Updates are exchanged only with peers in the same epoch (COMPACT-5.7).
   */
  readonly epoch?: EpochRecord | null
  /**
   * Serves a peer found in an older epoch (COMPACT-6.1): the record of the epoch that replaced `peerEpoch` on this
   * side's lineage, and a document of `peerEpoch` holding at least that record's base (for the catch-up,
   * COMPACT-5.1), or `null` when this side never was in `peerEpoch`. Default: offer the current record, no catch-up.
   */
  readonly epochLineage?: EpochLineage
  /**
   * Check what peers send against the document's rules (docs/spec/rules.md, RULES-6; docs/guides/rules.md): an update
   * that arrives on a path that is not an authority (a relay that checks these rules) is checked before it is
   * applied; one that breaks a rule is neither applied nor passed on (`refused` event), and a writer that can roll
   * back is told of its own live change as a relay tells it (`rejected` message, then a fence until it says
   * `rolled-back`); a refused sync step 2 is never told (RULES-6.6).
   */
  readonly rules?: SessionRules
  /**
   * Which paths are authorities: relays that judge every write on a connection as that connection's own (a ruled room,
   * RULES-4; a workspace catalogue, WS-ACCESS). Default: `rules.authority`, else none. With `rules`, this predicate is
   * also their authority (RULES-6.1) when `rules.authority` is not given. With an authority, a `rejected` message is
   * taken from it only (RULES-6.11), with or without `rules`. To learn whether an attached transport that has no
   * open path (a relay reconnecting) is an authority, it is asked with the empty peer id `''`: answer by
   * the transport alone, as `openDocument` does (`(transport) => transport === relay`).
   */
  readonly authority?: (transport: Transport, peer: PeerId) => boolean
  /**
   * What an update received from a peer is forwarded to (SYNC-3.6):
   * - `'not-to-authority'` (default when an authority is known, see {@link authority}): every other path but an
   *   authority, which would judge the peer's change as this session's (each writer sends its own changes to it);
   * - `'all'` (default otherwise): every other path (SYNC-3.1).
   */
  readonly forward?: 'all' | 'not-to-authority'
  /**
   * The client ids this device wrote the document with in earlier sessions (`DocPersistence.ownClients`, RULES-5.11):
   * a rollback removes their items that the authority lacks from the refused update on, like the current id's (a
   * refused change an earlier session stored but never rolled back, having crashed in between). The authority's
   * state vector at each handshake is passed on (`heldBy`), so ids it holds entirely leave the list.
   */
  readonly ownClients?: Pick<OwnClients, 'earlier' | 'heldBy'>
}

/** What a session offers a peer in an older epoch (see {@link SyncSessionOptions.epochLineage}). */
export interface EpochOfferSource {
  readonly record: EpochRecord
  /** A document of `record.parent`, containing `record.base`, or null. */
  readonly oldDoc: Y.Doc | null
}

/** Finds what to offer a peer in an older epoch (see {@link SyncSessionOptions.epochLineage}). */
export type EpochLineage = (peerEpoch: string) => EpochOfferSource | null | Promise<EpochOfferSource | null>

/** Rejections in a row of restoring updates for one record after which its rollback no longer restores (RULES-5.13). */
const MAX_RESTORE_REFUSALS = 2

/** Origin of a rollback's restoring transaction (RULES-5.4): a local change like any other. */
export const RESTORE_ORIGIN: unique symbol = Symbol('weft-restore')

/** The state vector of an empty document. */
const EMPTY_STATE_VECTOR = Y.encodeStateVector(new Y.Doc())

/** Yjs's delete-set range (not exported by name). */
type DeleteItem = DeleteSet['clients'] extends Map<number, Array<infer I>> ? I : never

/** Validation options of a session that validates (SYNC-3.4): the structural walk. */
const VALIDATE = {}
/** The same walk, also reading the delete set: a session with `rollback` records its peers' (RULES-5.3). */
const VALIDATE_DELETE_SET = { deleteSet: true }

/** Identifies one peer path in events. */
export interface PathRef {
  readonly transport: Transport
  readonly peer: PeerId
}

/** Events of {@link SyncSession}. */
export type SyncSessionEvents = {
  /** A peer path opened; the handshake has started. */
  'peer-joined': (event: PathRef) => void
  /** A peer path closed (peer left, transport removed, or dropped after an error). */
  'peer-left': (event: PathRef & { readonly reason: string }) => void
  /** The peer's sync step 2 was applied: this side has everything the peer had when it answered. */
  'peer-synced': (event: PathRef & { readonly weft: boolean }) => void
  /**
   * The peer durably stored the first `localChanges` local changes of this session (SYNC-4.3), and every numbered
   * message of this path up to `seq`.
   */
  ack: (event: PathRef & { readonly localChanges: number; readonly seq: number }) => void
  /**
   * What a peer showed it holds (STORE-9.9): its state vector (`kind: 'state-vector'`, from its sync step 1, emitted
   * once answered; `answeredSeq`: the sequence number of this side's numbered step 2 answering it, `null` when none
   * was sent) or an update it sent (`kind: 'update'`, a step 2 or an update, emitted once applied, also when it
   * changed nothing; `answeredSeq` is `null`).
   */
  'peer-holds': (
    event: PathRef & {
      readonly kind: 'state-vector' | 'update'
      readonly data: Uint8Array
      readonly answeredSeq: number | null
    },
  ) => void
  /** Progress of a large (chunked) incoming message. */
  progress: (event: PathRef & { readonly received: number; readonly total: number }) => void
  /**
   * A peer offered an epoch that wins over this session's (COMPACT-4.1, verified): the owner of the document switches
   * to it ({@link SyncSession.switchEpoch}) after applying `catchUp` (an update of the record's parent epoch) to the
   * old document and re-applying its changes (`rebaseOnto`). Until then no update is exchanged with that peer.
   */
  'epoch-offer': (event: PathRef & { readonly record: EpochRecord; readonly catchUp: Uint8Array }) => void
  /**
   * A peer sent the state of an epoch this side already passed (the answer to {@link SyncSession.requestEpoch}):
   * `catchUp` is a V1 update of `record.parent`, `record` the epoch that replaced it. With `rules`, only an
   * authority's answer is emitted (RULES-6.10).
   */
  'epoch-archive': (event: { readonly record: EpochRecord; readonly catchUp: Uint8Array }) => void
  /** The session switched to another epoch: `doc` is the new document (COMPACT-7.3). */
  'epoch-changed': (event: {
    readonly doc: Y.Doc
    readonly record: EpochRecord
    readonly previous: Y.Doc
  }) => void
  /**
   * A relay rejected one of this session's updates under the room's rules (RULES-4.3): `ruleId`, `path` and `reason`
   * say which rule and where, `seq` which update. Sent only to a session that announced the `rollback` feature, and
   * emitted once the document is rolled back (RULES-5.7): it holds what the relay accepted plus the later local
   * changes, under a new client id. `lost`: ids of content that could not be restored (normally empty). `removed`: the
   * content that left the document, as the retired client id's clock range `[from, to)` (`null`: none): the refused
   * content, and the later inserts (re-created under the new id). Of a refused sync step 2 (offline work sent on
   * reconnect) that is all the work it carried: valid parts included (RULES-5.3).
   */
  rejected: (
    event: PathRef &
      Rejection & {
        readonly lost: readonly string[]
        readonly removed: RemovedRange
      },
  ) => void
  /**
   * RULES-6.2: an update from a peer broke the document's rules and was not applied nor passed on. `told`: the peer
   * was sent a `rejected` message (it rolls back, RULES-6.3); otherwise it was refused silently (the peer cannot roll
   * back, an authority path is open, RULES-6.5, or the update may carry others' changes: a sync step 2 or an update
   * of several clients, RULES-6.6) and the path is muted until its next step 2 (RULES-6.8).
   */
  refused: (event: PathRef & Rejection & { readonly told: boolean }) => void
  /**
   * SYNC-3.7: content a local transaction left waiting for missing dependencies was integrated by a peer's update
   * and sent to every path as one more local change (counted in {@link SyncSession.localChanges} before this event).
   */
  'local-integrated': (event: { readonly update: Uint8Array }) => void
  /** An asynchronous fault; a path that sent malformed data has been dropped. Never thrown. */
  error: (event: {
    readonly error: WeftError
    readonly transport?: Transport
    readonly peer?: PeerId
  }) => void
}

/**
 * RULES-5.3: what a path's peer is known to hold, so that a rollback never touches it: the delete sets it sent (its
 * step 2 and the updates after it, while a step 2 of this side may still be refused) and, per client id, the clock
 * below which this side's items are acknowledged.
 */
/** A step 2 this side answered (RULES-5.2, 5.3): its sequence number, client id and clock then, and its update. */
interface Answered {
  readonly seq: number
  readonly client: number
  readonly clock: number
  readonly update: Uint8Array
}

interface Held {
  /** Delete sets received from the peer since its last step 2. */
  deleteSets: DeleteSet[]
  /** A step 2 of the peer arrived (its delete set is the peer's whole one). */
  known: boolean
  /** Whether received delete sets are recorded (until this side's step 2s are all acknowledged). */
  tracking: boolean
  /** A step 2 of this side was acknowledged: from then on, an ack with no step 2 pending stops the tracking. */
  answered: boolean
  /** Numbered updates sent, unacknowledged: the client id and its clock once sent, and whether it was a step 2. */
  readonly sent: Array<{ seq: number; client: number; clock: number; step2: boolean; mark: number }>
  /** Per client id: the clock below which the peer acknowledged this side's items. */
  readonly clocks: Map<number, number>
}

interface Attached {
  readonly paths: Map<PeerId, SessionPath>
  readonly off: () => void
}

/**
 * Binds one Y.Doc and its awareness to any number of transports, and runs the sync protocol on every peer path:
 * state vectors, then diffs, then updates; durable acks and chunking with peers that negotiated them. An update
 * that arrives on one path is forwarded to every other path, never back to where it came from, and not to an
 * authority unless `forward: 'all'` (SYNC-3.6). See docs/spec/sync-protocol.md.
 */
export class SyncSession extends ObservableV2<SyncSessionEvents> {
  #doc: Y.Doc
  #record: EpochRecord | null
  readonly #lineage: EpochLineage | undefined
  /** Old epochs asked of every Weft peer (SYNC-9.7). */
  readonly #wanted = new Set<string>()
  #awareness: awarenessProtocol.Awareness
  readonly #ownsAwareness: boolean
  readonly #durable: (() => Promise<void>) | undefined
  readonly #isLocal: (origin: unknown) => boolean
  readonly #side: ProtocolSide
  /** The document as every path's protocol sees it. */
  readonly #state: ProtocolDocState
  readonly #transports = new Map<Transport, Attached>()
  /** Every open path, also keyed by object for origin checks. */
  readonly #paths = new Set<SessionPath>()
  #localChanges = 0
  #destroyed = false
  readonly #rollback: boolean
  /** Stops keeping deleted content of the current document (RULES-5.4), when rolling back. */
  #kept: KeptDeletions | null = null
  /** RULES-5.16: the local steps (transactions) of the current client id that a rollback may step back. */
  readonly #steps = new LocalSteps()
  /** The restoring updates sent (weakly held: a path keeps them until acknowledged). */
  readonly #restores = new WeakSet<Uint8Array>()
  /**
   * RULES-5.13: per refused record (`refusedScope` as JSON, `null` for a whole update), the rejections of restoring
   * updates since the last rejection of another update.
   */
  readonly #restoreRefusals = new Map<string, number>()
  /** While a rollback restores: its updates, sent after `rolled-back` (RULES-5.1). */
  #restoring: Uint8Array[] | null = null
  /** RULES-5.6: the client id was drawn by a rollback (above the retired one); a uniform one is drawn once settled. */
  #redraw = false
  /** RULES-5.3: per path, what its peer holds (only with `rollback`). */
  readonly #held = new WeakMap<SessionPath, Held>()
  /** The step 2 just answered, claimed by the path that asked for it. */
  #answered: Answered | null = null
  #pendingAckPaths = new Set<SessionPath>()
  /** RULES-6: the rules checked on what peers send, or null. */
  readonly #peerRules: PeerRules<SessionPath> | null
  /** SYNC-3.6: the authority paths a peer's update is not forwarded to, or null (forwarded to every path). */
  readonly #noForwardTo: ((transport: Transport, peer: PeerId) => boolean) | null
  /** The authority paths (`authority`, else `rules.authority`), or null when none is known (RULES-6.11). */
  readonly #authority: ((transport: Transport, peer: PeerId) => boolean) | null
  /** Paths whose peer's sync step 1 arrived (this side answered with its step 2, or an offer). */
  readonly #greeted = new WeakSet<SessionPath>()
  /** RULES-5.11: the ids this device wrote with in earlier sessions, or null. */
  readonly #ownClients: SyncSessionOptions['ownClients'] | null

  constructor(options: SyncSessionOptions) {
    super()
    this.#doc = requireYDoc(options.doc, 'SyncSession')
    this.#record = options.epoch ?? null
    this.#lineage = options.epochLineage
    this.#ownsAwareness = options.awareness === undefined
    this.#awareness = options.awareness ?? new awarenessProtocol.Awareness(options.doc)
    this.#durable = options.durable
    this.#isLocal =
      options.isLocalOrigin ??
      ((origin) => !(origin instanceof ProtocolPath) && !isEpochOrigin(origin) && !isRollbackOrigin(origin))
    this.#rollback =
      options.extensions !== false && options.durable !== undefined && options.rollback !== false
    this.#side = {
      features:
        options.extensions === false
          ? null
          : (options.durable ? Feature.Ack : 0) | Feature.Chunk | (this.#rollback ? Feature.Rollback : 0),
      maxMessageSize: options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE,
      chunkSize: options.chunkSize ?? DEFAULT_CHUNK_SIZE,
      ordered: false,
      numbers: true,
      closesStale: false,
      mark: () => this.#localChanges,
      validate: (options.validateUpdates ?? true) ? (this.#rollback ? VALIDATE_DELETE_SET : VALIDATE) : null,
    }
    this.#state = {
      stateVector: () => Y.encodeStateVector(this.#doc),
      answer: (sv, seq, tag) => {
        const update = Y.encodeStateAsUpdate(this.#doc, sv)
        if (seq !== null && this.#rollback) {
          const client = this.#doc.clientID
          this.#answered = { seq, client, clock: Y.getState(this.#doc.store, client), update }
        }
        return [encodeSyncStep2(update, seq, tag)]
      },
      epochRecord: () => this.#record,
      offerFor: (peerEpoch) => this.#offerFor(peerEpoch),
    }
    const authority = options.authority ?? options.rules?.authority
    this.#peerRules = options.rules ? new PeerRules(options.rules, this.#doc) : null
    this.#noForwardTo =
      authority && (options.forward ?? 'not-to-authority') === 'not-to-authority' ? authority : null
    this.#authority = authority ?? null
    this.#ownClients = options.ownClients ?? null
    this.#watchDoc(this.doc)
    this.awareness.on('update', this.#onAwarenessUpdate)
  }

  /**
   * The document's awareness (presence). One the session created is replaced at an epoch switch by one bound to the
   * new document (COMPACT-7.4): same local state, same remote states, and peers see the old client leave. One the
   * app passed stays as it is (it belongs to the document it was created with: recreate it on `epoch-changed`).
   */
  get awareness(): awarenessProtocol.Awareness {
    return this.#awareness
  }

  /** The document this session syncs; replaced by {@link switchEpoch}. */
  get doc(): Y.Doc {
    return this.#doc
  }

  /** The id of the document's epoch (`"0"` until the first history compaction). */
  get epoch(): string {
    return epochIdOf(this.#record)
  }

  /** The current epoch's record (`null` in the initial epoch). */
  get epochRecord(): EpochRecord | null {
    return this.#record
  }

  /**
   * Moves the session to a new epoch's document (COMPACT-6): `doc` must already hold the record's initial state plus
   * whatever was re-applied onto it. Every open path starts a new handshake in the new epoch; nothing of the old
   * document is sent any more. Emits `epoch-changed`. The caller owns both documents.
   */
  switchEpoch(doc: Y.Doc, record: EpochRecord): void {
    this.#assertAlive()
    if (compareEpochs(record.id, this.epoch) >= 0) {
      throw new WeftError(WeftErrorCode.InvalidArgument, `epoch ${record.id} does not win over ${this.epoch}`)
    }
    const previous = this.#doc
    this.#unwatchDoc(previous)
    this.#doc = doc
    this.#record = record
    this.#watchDoc(doc)
    for (const p of this.#paths) p.epochChanged()
    // The same document taking an epoch in place (an empty one, DocHandle's default mode): its awareness stays.
    if (this.#ownsAwareness && doc !== previous) this.#moveAwareness(doc)
    this.emit('epoch-changed', [{ doc, record, previous }])
  }

  /** COMPACT-7.4: a new awareness on the new document, with the same states; the old client leaves. */
  #moveAwareness(doc: Y.Doc): void {
    const old = this.#awareness
    const local = old.getLocalState()
    const remote = [...old.getStates().keys()].filter((id) => id !== old.clientID)
    // Peers drop the old client now rather than after the awareness timeout (no ghost of ourselves).
    awarenessProtocol.removeAwarenessStates(old, [old.clientID], 'epoch')
    old.off('update', this.#onAwarenessUpdate)
    const next = new awarenessProtocol.Awareness(doc)
    if (remote.length > 0) {
      awarenessProtocol.applyAwarenessUpdate(
        next,
        awarenessProtocol.encodeAwarenessUpdate(old, remote),
        'epoch',
      )
    }
    old.destroy()
    this.#awareness = next
    next.on('update', this.#onAwarenessUpdate)
    next.setLocalState(local)
  }

  /** The transport of a transaction origin that is one of a session's peer paths; `null` for any other origin. */
  static originTransport(origin: unknown): Transport | null {
    return origin instanceof SessionPath ? origin.transport : null
  }

  /** Whether a transaction origin is one of a session's peer paths (i.e. the change came from a peer). */
  static isPeerOrigin(origin: unknown): boolean {
    return origin instanceof ProtocolPath
  }

  /** Local changes made since the session started (see {@link SyncSessionOptions.isLocalOrigin}). */
  get localChanges(): number {
    return this.#localChanges
  }

  /** Every open peer path. */
  get paths(): PathRef[] {
    return [...this.#paths].map((p) => ({ transport: p.transport, peer: p.peer }))
  }

  /** Whether every open path completed its handshake (false while there is no path). */
  get synced(): boolean {
    if (this.#paths.size === 0) return false
    for (const p of this.#paths) if (!p.synced) return false
    return true
  }

  /** Details of one path (negotiation and counters), or undefined. */
  pathInfo(
    transport: Transport,
    peer: PeerId,
  ):
    | {
        weft: boolean
        synced: boolean
        bytesSent: number
        bytesReceived: number
        ackedSeq: number
        sentSeq: number
      }
    | undefined {
    const p = this.#transports.get(transport)?.paths.get(peer)
    if (!p) return undefined
    return {
      weft: p.weft,
      synced: p.synced,
      bytesSent: p.bytesSent,
      bytesReceived: p.bytesReceived,
      ackedSeq: p.ackedSeq,
      sentSeq: p.sentSeq,
    }
  }

  /** Resolves once every open path is synced (and at least one path exists). */
  whenSynced(): Promise<void> {
    if (this.synced) return Promise.resolve()
    return new Promise((resolve) => {
      const check = () => {
        if (!this.synced) return
        this.off('peer-synced', check)
        resolve()
      }
      this.on('peer-synced', check)
    })
  }

  /**
   * Adds a transport: a handshake starts with each of its current and future peers. Returns a function that
   * removes it again. The session never connects or disconnects the transport itself, except to drop a peer
   * that sent malformed data.
   */
  addTransport(transport: Transport): () => void {
    this.#assertAlive()
    if (this.#transports.has(transport)) return () => this.removeTransport(transport)
    const paths = new Map<PeerId, SessionPath>()
    const onJoin = ({ peer }: { peer: PeerId }) => this.#open(transport, peer)
    const onLeave = ({ peer, reason }: { peer: PeerId; reason: string }) =>
      this.#close(transport, peer, reason)
    const onMessage = ({ from, data }: { from: PeerId; data: Uint8Array }) =>
      this.#receive(transport, from, data)
    const onStatus = ({ status }: { status: string }) => {
      if (status !== 'connected') for (const peer of [...paths.keys()]) this.#close(transport, peer, status)
    }
    transport.on('peer-joined', onJoin)
    transport.on('peer-left', onLeave)
    transport.on('message', onMessage)
    transport.on('status', onStatus)
    this.#transports.set(transport, {
      paths,
      off: () => {
        transport.off('peer-joined', onJoin)
        transport.off('peer-left', onLeave)
        transport.off('message', onMessage)
        transport.off('status', onStatus)
      },
    })
    for (const peer of transport.peers) this.#open(transport, peer)
    return () => this.removeTransport(transport)
  }

  /** Removes a transport: its paths close (their awareness states go), the transport itself stays as it is. */
  removeTransport(transport: Transport): void {
    const attached = this.#transports.get(transport)
    if (!attached) return
    for (const peer of [...attached.paths.keys()]) this.#close(transport, peer, 'transport removed')
    attached.off()
    this.#transports.delete(transport)
  }

  /**
   * Asks every Weft peer for the state of an epoch this side left without keeping it (SYNC-9.7); answers arrive as
   * `epoch-archive` events. With `rules`, only authority paths are asked, and only their answers taken (RULES-6.10).
   */
  requestEpoch(epoch: string): void {
    this.#wanted.add(epoch)
    const message = encodeEpochRequest(epoch, EMPTY_STATE_VECTOR)
    for (const p of this.#paths) if (p.weft && this.#takesArchives(p.transport, p.peer)) p.send(message)
  }

  /**
   * RULES-6.10: whether an old epoch's state (SYNC-9.7) is asked of and taken from this path: any peer's without
   * `rules`, an authority's only with them (nobody checked an archive: it would be stored, served to peers coming back
   * from that epoch and re-applied into their documents).
   */
  #takesArchives(transport: Transport, peer: PeerId): boolean {
    return this.#peerRules === null || this.#isAuthority(transport, peer)
  }

  /**
   * RULES-6.1: whether this path is an authority (`authority`, else `rules.authority`): its updates are applied
   * unchecked, its `rejected` messages and old epochs taken. The one place the predicate is asked about a path.
   */
  #isAuthority(transport: Transport, peer: PeerId): boolean {
    return this.#authority?.(transport, peer) ?? false
  }

  /**
   * RULES-6.11: whether a `rejected` message of this path is taken (a rollback). When an authority is known, only
   * its own, open or not: it decides what stays (RULES-6.5; an honest checking peer does not tell while it is open),
   * and a rollback's restore would undo at the relay a change it accepted, written as this session's writer (a peer
   * could make an owner revert its own locked record, also during a short drop of the relay's connection). The same
   * with or without `rules`. Without a known authority (no attached transport is one: a relay-less room) a peer's is
   * taken (RULES-6.3). Not taken,
   * it is answered `rolled-back` (the peer's fence lifts) and nothing else happens.
   */
  #takesRejection(path: SessionPath): boolean {
    if (this.#authority === null || this.#isAuthority(path.transport, path.peer)) return true
    // Known: one of the attached transports is an authority (a relay's stays attached while it reconnects).
    for (const [transport, attached] of this.#transports) {
      if (this.#isAuthority(transport, NO_PEER)) return false
      for (const peer of attached.paths.keys()) if (this.#isAuthority(transport, peer)) return false
    }
    return true
  }

  /** Stops asking for `epoch` (see {@link requestEpoch}); peers that open a path later are not asked. */
  stopRequestingEpoch(epoch: string): void {
    this.#wanted.delete(epoch)
  }

  /** Sends sync step 1 (our state vector and epoch) on one path, e.g. to get a fresh epoch offer. */
  announce(transport: Transport, peer: PeerId): void {
    const path = this.#transports.get(transport)?.paths.get(peer)
    path?.greet()
  }

  /**
   * Starts a new handshake on every open path (sends sync step 1 again). Heals anything lost on a lossy
   * transport; normally not needed.
   */
  resync(): void {
    for (const p of this.#paths) p.greet()
  }

  override destroy(): void {
    if (this.#destroyed) return
    for (const t of [...this.#transports.keys()]) this.removeTransport(t)
    this.#unwatchDoc(this.doc)
    this.#peerRules?.destroy()
    this.awareness.off('update', this.#onAwarenessUpdate)
    if (this.#ownsAwareness) this.awareness.destroy()
    this.#destroyed = true
    super.destroy()
  }

  #assertAlive(): void {
    if (this.#destroyed) throw new WeftError(WeftErrorCode.Destroyed, 'SyncSession was destroyed')
  }

  #open(transport: Transport, peer: PeerId): void {
    const attached = this.#transports.get(transport)
    if (!attached || attached.paths.has(peer)) return
    const path: SessionPath = new SessionPath(
      this.#side,
      this.#state,
      {
        write: (message) => this.#write(path, message),
        get maxMessageSize() {
          return transport.maxMessageSize
        },
        // SYNC-9.7: a Weft peer that says hello for the first time is asked for the old epochs we look for.
        greeted: () => {
          if (!this.#takesArchives(transport, peer)) return
          for (const e of this.#wanted) path.send(encodeEpochRequest(e, EMPTY_STATE_VECTOR))
        },
        offered: (record, catchUp) => {
          // RULES-6.7: a new epoch's state is a whole document nobody checked: only an authority's is followed.
          if (this.#peerRules && !this.#isAuthority(transport, peer)) return
          this.emit('epoch-offer', [{ transport, peer, record, catchUp }])
        },
        archived: (record, catchUp) => {
          if (this.#takesArchives(transport, peer)) this.emit('epoch-archive', [{ record, catchUp }])
        },
        // A session has no read-only paths, and keeps a stock peer of another epoch without closing it.
        refuse: () => undefined,
        failed: (error) => this.emit('error', [{ error, transport, peer }]),
        rejected: (rejection) =>
          this.#takesRejection(path)
            ? this.#rolledBack(path, rejection)
            : path.send(encodeRolledBack(this.#doc.clientID)),
        progress: (received, total) => this.emit('progress', [{ transport, peer, received, total }]),
      },
      { greets: true, writable: true },
      transport,
      peer,
    )
    attached.paths.set(peer, path)
    this.#paths.add(path)
    this.emit('peer-joined', [{ transport, peer }])
    // SYNC-1.1: open with our state vector (plus the Weft hello), then everything we know of presence.
    path.start()
    // SYNC-6.3: peers that saw this client leave keep its removal at the clock it had; re-setting the local
    // state raises the clock, so a client coming back is visible at once (and every path hears it renewed).
    const local = this.awareness.getLocalState()
    if (local !== null) this.awareness.setLocalState(local)
    const clients = [...this.awareness.getStates().keys()].filter((id) => id !== this.awareness.clientID)
    if (clients.length > 0) {
      path.send(encodeAwareness(awarenessProtocol.encodeAwarenessUpdate(this.awareness, clients)))
    }
  }

  #close(transport: Transport, peer: PeerId, reason: string): void {
    const attached = this.#transports.get(transport)
    const path = attached?.paths.get(peer)
    if (!attached || !path) return
    attached.paths.delete(peer)
    this.#paths.delete(path)
    this.#pendingAckPaths.delete(path)
    path.close()
    if (this.#paths.size === 0) this.#newClientId()
    // SYNC-6.2: presence that arrived only over this path goes with it.
    const gone = [...path.awarenessClients].filter(
      (id) => id !== this.awareness.clientID && ![...this.#paths].some((p) => p.awarenessClients.has(id)),
    )
    if (gone.length > 0) awarenessProtocol.removeAwarenessStates(this.awareness, gone, 'path-closed')
    this.emit('peer-left', [{ transport, peer, reason }])
  }

  /** Drops a path after bad input: error event, close, and ask the transport to disconnect that peer. */
  #drop(path: SessionPath, error: WeftError): void {
    this.emit('error', [{ error, transport: path.transport, peer: path.peer }])
    this.#close(path.transport, path.peer, error.code)
    try {
      path.transport.disconnect(path.peer)
    } catch (err) {
      this.emit('error', [
        { error: toWeftError(WeftErrorCode.TransportFailed, err), transport: path.transport },
      ])
    }
  }

  /** Writes one piece to the path's transport (chunking is the path's, SYNC-5.1). */
  #write(path: SessionPath, piece: Uint8Array): boolean {
    try {
      path.transport.send(piece, path.peer)
      path.bytesSent += piece.length
      return true
    } catch (err) {
      this.emit('error', [
        {
          error: toWeftError(WeftErrorCode.TransportFailed, err),
          transport: path.transport,
          peer: path.peer,
        },
      ])
      return false
    }
  }

  /** What to offer a peer in `peerEpoch` (SYNC-9.3): from the lineage; a failed lookup is an `error` event. */
  #offerFor(peerEpoch: string): EpochOffering | null | Promise<EpochOffering | null> {
    const failed = (err: unknown) => {
      this.emit('error', [{ error: toWeftError(WeftErrorCode.StoreFailed, err, 'epoch lineage failed') }])
      return null
    }
    const offering = (source: EpochOfferSource | null): EpochOffering | null => {
      const oldDoc = source?.oldDoc
      if (!source) return null
      return { record: source.record, catchUp: oldDoc ? (sv) => Y.encodeStateAsUpdate(oldDoc, sv) : null }
    }
    let source: EpochOfferSource | null | Promise<EpochOfferSource | null>
    try {
      source = this.#lineage?.(peerEpoch) ?? null
    } catch (err) {
      return failed(err)
    }
    return source instanceof Promise ? source.then(offering, failed) : offering(source)
  }

  #receive(transport: Transport, from: PeerId, data: Uint8Array): void {
    if (this.#destroyed) return
    let path = this.#transports.get(transport)?.paths.get(from)
    if (!path) {
      // A transport that delivers before announcing the peer: open the path now.
      this.#open(transport, from)
      path = this.#transports.get(transport)?.paths.get(from)
      if (!path) return
    }
    try {
      const message = path.decode(data)
      if (message) this.#handle(path, message)
    } catch (err) {
      this.#drop(path, toWeftError(WeftErrorCode.MalformedMessage, err))
    }
  }

  #handle(path: SessionPath, message: Exclude<WireMessage, { type: 'chunk' }>): void {
    switch (message.type) {
      case 'sync-step1': {
        this.#answered = null
        const sentBefore = path.sentSeq
        path.step1(message.stateVector, message.hello)
        const answeredSeq = path.sentSeq > sentBefore ? path.sentSeq : null
        this.emit('peer-holds', [
          {
            transport: path.transport,
            peer: path.peer,
            kind: 'state-vector',
            data: message.stateVector,
            answeredSeq,
          },
        ])
        this.#greeted.add(path)
        const answered = this.#answered as Answered | null
        if (answered !== null) {
          // RULES-5.2: the step 2 is kept until acknowledged, like every numbered update.
          path.keep(answered.seq, answered.update)
          const held = this.#heldOf(path)
          const { seq, client, clock } = answered
          held.sent.push({ seq, client, clock, step2: true, mark: this.#localChanges })
          held.tracking = true
          this.#answered = null
          // RULES-5.11: earlier ids the authority holds entirely can no longer be refused.
          if (this.#ownClients && this.#isAuthority(path.transport, path.peer))
            this.#ownClients.heldBy(Y.decodeStateVector(message.stateVector), this.#doc)
        }
        return
      }
      case 'sync-step2':
      case 'sync-update':
        // COMPACT-5.7: an update of another epoch is never applied (it may arrive after a switch).
        if (!path.admits(message.epoch)) return
        this.#applyUpdate(path, message.update, message.seq, message.type === 'sync-step2')
        this.emit('peer-holds', [
          {
            transport: path.transport,
            peer: path.peer,
            kind: 'update',
            data: message.update,
            answeredSeq: null,
          },
        ])
        if (message.type === 'sync-step2' && !path.synced) {
          path.synced = true
          this.emit('peer-synced', [{ transport: path.transport, peer: path.peer, weft: path.weft }])
        }
        return
      case 'awareness': {
        const entries = readAwarenessEntries(message.update)
        for (const e of entries)
          if (e.clientID !== this.awareness.clientID) path.awarenessClients.add(e.clientID)
        awarenessProtocol.applyAwarenessUpdate(this.awareness, message.update, path)
        return
      }
      case 'query-awareness': {
        const clients = [...this.awareness.getStates().keys()]
        path.send(encodeAwareness(awarenessProtocol.encodeAwarenessUpdate(this.awareness, clients)))
        return
      }
      case 'auth-denied':
        this.emit('error', [
          {
            error: new WeftError(WeftErrorCode.AuthDenied, `access denied: ${message.reason}`),
            transport: path.transport,
            peer: path.peer,
          },
        ])
        return
      case 'ack': {
        if (this.#rollback) this.#acknowledged(path, message.seq)
        const durable = path.acknowledge(message.seq)
        if (durable !== null) {
          this.emit('ack', [
            { transport: path.transport, peer: path.peer, localChanges: durable, seq: message.seq },
          ])
        }
        return
      }
      case 'epoch-offer':
        return path.onOffer(message.record, message.catchUp)
      case 'epoch-request':
        return path.onRequest(message.epoch, message.stateVector)
      case 'rejected':
        return path.onRejected(message)
      case 'rolled-back':
        // RULES-6.3: a side that checks rules lifts the fence of this path.
        return this.#peerRules?.rolledBack(path)
    }
  }

  #heldOf(path: SessionPath): Held {
    let held = this.#held.get(path)
    if (!held) {
      held = { deleteSets: [], known: false, tracking: true, answered: false, sent: [], clocks: new Map() }
      this.#held.set(path, held)
    }
    return held
  }

  /** RULES-5.3: the peer acknowledged up to `seq`: the clocks it holds move; its delete sets are no longer needed. */
  #acknowledged(path: SessionPath, seq: number): void {
    const held = this.#held.get(path)
    if (!held) return
    while (held.sent.length > 0 && (held.sent[0]?.seq ?? Infinity) <= seq) {
      const s = held.sent.shift()
      if (s) held.clocks.set(s.client, Math.max(held.clocks.get(s.client) ?? 0, s.clock))
      if (s?.step2) held.answered = true
    }
    // This side's step 2 is settled: the peer's delete set is no longer needed (a later step 2 of this side is
    // answered to a new step 1 of the peer, whose own step 2 comes again after this side's step 1).
    if (held.answered && !held.sent.some((s) => s.step2)) {
      held.tracking = false
      held.known = false
      held.deleteSets = []
    }
    // RULES-5.8: deleted content no unacknowledged update may need is let go.
    let upTo = this.#localChanges
    for (const p of this.#paths) {
      const first = this.#held.get(p)?.sent[0]
      if (first) upTo = Math.min(upTo, first.mark - 1)
    }
    this.#kept?.release(upTo)
    // RULES-5.16: the steps whose items every path acknowledged cannot be refused any more.
    const X = this.#doc.clientID
    let clock = Infinity
    for (const p of this.#paths) {
      const h = this.#held.get(p)
      if (h) clock = Math.min(clock, h.clocks.get(X) ?? 0)
    }
    if (clock !== Infinity) this.#steps.prune(X, clock)
    // RULES-5.6: every update is acknowledged, so none of this id's items can be refused any more: later changes take
    // a uniformly drawn id again (rollback ids, each above the last, would crowd near 2^32).
    if (this.#redraw && [...this.#paths].every((p) => (this.#held.get(p)?.sent.length ?? 0) === 0)) {
      this.#redraw = false
      this.#doc.clientID = drawClientId(this.#doc, this.#doc.clientID)
    }
  }

  /** RULES-5.3: records the delete set of an update received from `path` while a step 2 of this side may be refused. */
  #received(path: SessionPath, update: Uint8Array, complete: boolean, summary: UpdateSummary | null): void {
    const held = this.#heldOf(path)
    // The validation walk read the delete set already; without validation (SYNC-3.4 off) it is decoded here.
    const ds = (): DeleteSet => {
      if (!summary?.deleteSet) return Y.decodeUpdate(update).ds
      const out = Y.createDeleteSet()
      // Yjs's DeleteItem is a plain { clock, len } record; merging (before any lookup) sorts them.
      for (const [client, ranges] of summary.deleteSet) out.clients.set(client, ranges as DeleteItem[])
      return out
    }
    if (complete) {
      held.known = true
      held.tracking = true
      held.deleteSets = [ds()]
    } else if (held.tracking) {
      held.deleteSets.push(ds())
      if (held.deleteSets.length > 32) held.deleteSets = [Y.mergeDeleteSets(held.deleteSets)]
    }
  }

  /**
   * RULES-5.2..5.7: the peer rejected update `seq` of this path: roll back it and every later update of the path
   * (kept until acknowledged), tell the peer (`rolled-back`, before any new update: RULES-5.1), send the restoring
   * update, then emit `rejected`.
   */
  #rolledBack(path: SessionPath, rejection: Rejection): void {
    const kept = rejection.seq === null ? [] : path.unacknowledged(rejection.seq)
    const first = kept[0]
    let lost: readonly string[] = []
    let removed: RemovedRange = null
    if (first === undefined || first[0] !== rejection.seq) {
      // Nothing this session can roll back (not kept, or not numbered): the relay still waits for `rolled-back`.
      path.send(encodeRolledBack(this.#doc.clientID))
    } else {
      // RULES-5.13: the refused record alone is rolled back, unless the rejection names none the writer can scope to.
      const earlier = this.#ownClients?.earlier(this.#doc.clientID)
      const scope = refusedScope(this.#doc, first[1], rejection, [this.#doc.clientID, ...(earlier ?? [])])
      const key = JSON.stringify(scope)
      if (!this.#restores.has(first[1])) this.#restoreRefusals.clear()
      else this.#restoreRefusals.set(key, (this.#restoreRefusals.get(key) ?? 0) + 1)
      path.forget(first[0])
      const held = this.#heldOf(path)
      const step2 = held.sent.some((s) => s.seq === first[0] && s.step2)
      const refusedMark = held.sent.find((s) => s.seq === first[0])?.mark ?? 0
      held.sent.splice(0, held.sent.length, ...held.sent.filter((s) => s.seq < first[0]))
      const restoring: Uint8Array[] = (this.#restoring = [])
      let deletions: Uint8Array | null = null
      try {
        const result = rollbackUpdates({
          doc: this.#doc,
          rejected: first[1],
          later: kept.slice(1).map(([, u]) => u),
          restoreOrigin: RESTORE_ORIGIN,
          // A record whose restore is refused again and again (the relay refuses the old values themselves) is not
          // restored a third time: a rollback never loops (RULES-5.13).
          restore: (this.#restoreRefusals.get(key) ?? 0) < MAX_RESTORE_REFUSALS,
          held: {
            deleteSets: held.deleteSets,
            clock: held.clocks.get(this.#doc.clientID) ?? 0,
            deletionsKnown: !step2 || held.known,
          },
          // RULES-5.10, 5.13: only the refused record's changes are rolled back, the others re-created and re-sent.
          ...(scope !== null ? { refusedRecord: scope } : {}),
          // RULES-5.11: a refused change an earlier session of this device stored is rolled back too.
          ...(earlier ? { earlier } : {}),
          // RULES-5.16: the refused record goes back one of the writer's steps.
          steps: this.#steps.of(this.#doc.clientID),
        })
        this.#steps.replace(this.#doc.clientID, result.steps)
        // RULES-5.16: a record that went back one step made progress: its restores are counted again from zero.
        if (result.stepped) this.#restoreRefusals.delete(key)
        deletions = result.deletions
        lost = result.lost
        this.#redraw = true
        if (result.fromClock !== null && result.toClock !== null)
          removed = { client: result.retiredClientId, from: result.fromClock, to: result.toClock }
      } catch (err) {
        this.emit('error', [
          {
            error: toWeftError(WeftErrorCode.ObserverFailed, err),
            transport: path.transport,
            peer: path.peer,
          },
        ])
      } finally {
        this.#restoring = null
      }
      path.send(encodeRolledBack(this.#doc.clientID))
      // One local change per restoring transaction (RULES-5.16: a restore may take several), as the pending count
      // counts the document's local updates.
      this.#localChanges += restoring.length
      const parts = deletions ? [...restoring, deletions] : restoring
      if (parts.length > 0) {
        const restore = parts.length === 1 ? (parts[0] as Uint8Array) : Y.mergeUpdates(parts)
        this.#restores.add(restore)
        this.#broadcast(restore, RESTORE_ORIGIN)
      }
      // RULES-5.8: the restoring update re-sends the later deletions: their content stays until it is acknowledged.
      // A step 2 carries every local change not yet acknowledged, whatever mark its transaction took: all of them.
      this.#kept?.remark(step2 ? 0 : refusedMark, this.#localChanges)
      // RULES-6.2: the rollback removed items in a way no update tells: the view starts again from the document.
      this.#peerRules?.reset()
    }
    this.emit('rejected', [{ transport: path.transport, peer: path.peer, ...rejection, lost, removed }])
  }

  #applyUpdate(path: SessionPath, update: Uint8Array, seq: number | null, complete: boolean): void {
    // SYNC-3.4: a malformed update is rejected before anything is applied.
    const summary = path.validate(update)
    const rules = this.#peerRules
    if (rules !== null && !this.#isAuthority(path.transport, path.peer)) {
      const screened = rules.screen(path, update, rules.writerOf(path.transport, path.peer), complete)
      if (screened.kind !== 'accepted')
        return this.#refuseUpdate(rules, path, update, screened, seq, complete)
      return rules.taking(path, () => this.#takeUpdate(path, update, seq, complete, summary))
    }
    this.#takeUpdate(path, update, seq, complete, summary)
  }

  /**
   * RULES-6.2, 6.3, 6.5, 6.8: an update of `path` that is not applied. A refused one is settled (acknowledged,
   * RULES-5.3); its writer is told when it can roll back, no authority path is open and the update is the writer's
   * own (a live update of one client, RULES-6.6), and then fenced; otherwise the path is muted until its next step 2
   * (`PeerRules`). One that lacks dependencies asks the peer for its state (SYNC-3.3), whose step 2 is checked in turn.
   */
  #refuseUpdate(
    rules: PeerRules<SessionPath>,
    path: SessionPath,
    update: Uint8Array,
    screened: Exclude<Screened, { kind: 'accepted' }>,
    seq: number | null,
    complete: boolean,
  ): void {
    if (screened.kind === 'missing') {
      if (!path.resyncRequested) {
        path.resyncRequested = true
        path.greet()
      }
      return
    }
    if (screened.kind === 'refused') {
      const { ruleId, reason } = screened.verdict
      const where = screened.verdict.path.map(String)
      const authority = [...this.#paths].some((p) => p.open && this.#isAuthority(p.transport, p.peer))
      // RULES-6.6: only an update that is the writer's own is told. A step 2, or an update holding structs of more
      // than one client, may carry what the peer took from others: telling would roll back the peer's own valid edits.
      const own = !complete && Y.parseUpdateMeta(update).from.size <= 1
      const told = own && !authority && path.has(Feature.Rollback)
      if (told) {
        path.send(encodeRejected(seq, ruleId, where.join('/'), reason))
        rules.fence(path)
      }
      this.emit('refused', [
        { transport: path.transport, peer: path.peer, seq, ruleId, path: where, reason, told },
      ])
    }
    if (seq !== null && path.received(seq, complete) && this.#durable) this.#scheduleAck(path)
  }

  #takeUpdate(
    path: SessionPath,
    update: Uint8Array,
    seq: number | null,
    complete: boolean,
    summary: UpdateSummary | null,
  ): void {
    // Reading happens inside our transaction; observers run when it ends. So a throw before `read` is set is
    // Yjs refusing the update, a throw after it is an application observer failing (the update is in the doc).
    let read = false
    try {
      this.doc.transact(() => {
        Y.applyUpdate(this.doc, update, path)
        read = true
        if (this.#rollback) this.#received(path, update, complete, summary)
      }, path)
    } catch (err) {
      if (!read) throw toWeftError(WeftErrorCode.InvalidUpdate, err, 'update rejected by Yjs')
      this.emit('error', [
        { error: toWeftError(WeftErrorCode.ObserverFailed, err), transport: path.transport, peer: path.peer },
      ])
    }
    const store = this.doc.store
    if (store.pendingStructs !== null || store.pendingDs !== null) {
      // SYNC-3.3: missing dependencies (a lost message): ask this peer for what we lack, once.
      if (!path.resyncRequested) {
        path.resyncRequested = true
        path.greet()
      }
    } else {
      for (const p of this.#paths) p.resyncRequested = false
    }
    if (seq !== null && path.received(seq, complete) && this.#durable) this.#scheduleAck(path)
    if (store.pendingStructs === null && store.pendingDs === null) {
      for (const p of this.#pendingAckPaths) this.#scheduleAck(p)
    }
  }

  /** SYNC-4.2, 4.4: ack once what was applied is durable and nothing is waiting on missing dependencies. */
  #scheduleAck(path: SessionPath): void {
    const durable = this.#durable
    if (!durable || !path.ackDue) return
    const store = this.doc.store
    if (store.pendingStructs !== null || store.pendingDs !== null) {
      this.#pendingAckPaths.add(path)
      return
    }
    this.#pendingAckPaths.delete(path)
    path.scheduleAck(durable)
  }

  /**
   * The session listens to `update` only for transactions it needs: local ones (counted, and sent to every path) and
   * remote ones that another path must get. Yjs encodes a transaction's update only when someone listens, so a peer
   * with one path and no other listener does not re-encode every update it receives.
   */
  #watchDoc(doc: Y.Doc): void {
    doc.on('afterTransactionCleanup', this.#beforeUpdate)
    doc.on('update', this.#onDocUpdate)
    this.#listening = true
    this.#watchPending(doc)
    if (this.#peerRules) {
      this.#peerRules.reset(doc)
      doc.on('update', this.#peerRules.follow)
    }
    if (this.#rollback) doc.on('afterTransaction', this.#onStep)
    if (this.#rollback)
      this.#kept = keepLocalDeletions(
        doc,
        (origin) => this.#isLocal(origin),
        () => this.#localChanges,
      )
  }

  #unwatchDoc(doc: Y.Doc): void {
    doc.off('afterTransactionCleanup', this.#beforeUpdate)
    doc.off('update', this.#onDocUpdate)
    doc.off('afterTransaction', this.#onStep)
    this.#listening = false
    if (this.#peerRules) doc.off('update', this.#peerRules.follow)
    this.#kept?.stop()
    this.#kept = null
  }

  #listening = false

  /**
   * SYNC-10.1: the last path closed, so what this client writes offline goes under a new client id. The current one
   * is known to every peer that saw this client (its updates, its presence): a writer who reused it while this client
   * is away would take the clocks of its offline edits, and every other replica would drop them as duplicates. While
   * a rollback's id is in force (RULES-5.6) the new one is drawn above it, as a rollback draws. The awareness follows
   * (its local state moves to the new id: bindings such as y-codemirror.next tell their own cursor by
   * `doc.clientID`); no path is open, so no peer sees the move.
   */
  #newClientId(): void {
    const doc = this.#doc
    doc.clientID = drawClientId(doc, doc.clientID, this.#redraw ? doc.clientID : null)
    const awareness = this.#awareness
    if (awareness.doc !== doc || awareness.clientID === doc.clientID) return
    const local = awareness.getLocalState()
    awarenessProtocol.removeAwarenessStates(awareness, [awareness.clientID], 'client-id')
    awareness.clientID = doc.clientID
    if (local !== null) awareness.setLocalState(local)
  }

  /** RULES-5.16: records a local transaction as a step (a rollback's restoring ones are recorded by the rollback). */
  readonly #onStep = (tr: Y.Transaction, doc: Y.Doc): void => {
    if (this.#restoring !== null && tr.origin === RESTORE_ORIGIN) return
    if (this.#isLocal(tr.origin)) this.#steps.record(tr, doc.clientID)
  }

  readonly #beforeUpdate = (tr: Y.Transaction, doc: Y.Doc): void => {
    const origin: unknown = tr.origin
    // SYNC-3.7: two reads when nothing is pending; anything more only when what Yjs holds pending changed.
    const { pendingStructs, pendingDs } = doc.store
    if ((pendingStructs?.update ?? null) !== this.#seenStructs || pendingDs !== this.#seenDs)
      this.#pendingChanged(tr, doc)
    let needed = this.#isLocal(origin)
    if (!needed) {
      for (const path of this.#paths) {
        if (path !== origin) {
          needed = true
          break
        }
      }
    }
    if (needed === this.#listening) return
    this.#listening = needed
    if (needed) doc.on('update', this.#onDocUpdate)
    else doc.off('update', this.#onDocUpdate)
  }

  /** What Yjs held pending (waiting for missing dependencies) after the last transaction. */
  #seenStructs: Uint8Array | null = null
  #seenDs: Uint8Array | null = null
  /** SYNC-3.7: a local transaction (or the document before the session) left something pending. */
  #localPending = false

  #watchPending(doc: Y.Doc): void {
    this.#seenStructs = doc.store.pendingStructs?.update ?? null
    this.#seenDs = doc.store.pendingDs
    this.#localPending = this.#seenStructs !== null || this.#seenDs !== null
  }

  /**
   * SYNC-3.7: Yjs integrates pending structs (and deletions) in whichever transaction brings what they lacked. When a
   * peer's transaction integrates what a local one left pending (an app's `Y.applyUpdate` of an update whose
   * dependencies were missing), that content is not the peer's: it is sent to every path, the peer's included, as
   * one more local change: the pending clients' structs from where the pending update started (those the peer's
   * update did not bring below it), and the transaction's deletions if pending deletions were applied.
   */
  #pendingChanged(tr: Y.Transaction, doc: Y.Doc): void {
    const structs = this.#seenStructs
    const ds = this.#seenDs
    this.#seenStructs = doc.store.pendingStructs?.update ?? null
    this.#seenDs = doc.store.pendingDs
    const dsApplied = ds !== null && (this.#seenDs === null || !equalFlat(ds, this.#seenDs))
    if (this.#isLocal(tr.origin)) {
      // A local update added to what is pending (not a local edit made while a peer's update waits).
      const added = this.#seenStructs !== null && this.#seenStructs !== structs
      this.#localPending ||= added || (this.#seenDs !== null && (ds === null || dsApplied))
      return
    }
    if (!this.#localPending || !(tr.origin instanceof SessionPath)) return
    this.#localPending = this.#seenStructs !== null || this.#seenDs !== null
    const from = new Map<number, number>()
    if (structs !== null) {
      for (const [client, clock] of Y.parseUpdateMetaV2(structs).from) {
        const lower = Math.max(clock, tr.beforeState.get(client) ?? 0)
        if (lower < Y.getState(doc.store, client)) from.set(client, lower)
      }
    }
    if (from.size === 0 && !dsApplied) return
    const update = encodeIntegrated(doc, from, dsApplied ? tr.deleteSet : null)
    this.#localChanges++
    this.emit('local-integrated', [{ update }])
    this.#broadcast(update, null)
  }

  readonly #onDocUpdate = (update: Uint8Array, origin: unknown): void => {
    // RULES-5.6: the rollback's deletion of refused items is never sent; its restoring update waits for `rolled-back`.
    if (isRollbackOrigin(origin)) return
    if (this.#restoring !== null && origin === RESTORE_ORIGIN) return void this.#restoring.push(update)
    if (this.#isLocal(origin)) this.#localChanges++
    this.#broadcast(update, origin)
  }

  /**
   * Sends `update` to every open path but `origin` (SYNC-3.1), numbered for those that acknowledge; a peer's update
   * not to an authority (SYNC-3.6, with `forward: 'not-to-authority'`).
   */
  #broadcast(update: Uint8Array, origin: unknown): void {
    let plain: Uint8Array | null = null
    const noForwardTo = origin instanceof SessionPath ? this.#noForwardTo : null
    for (const path of this.#paths) {
      if (path === origin) continue // SYNC-3.1: never back to where it came from
      if (!path.open) continue // COMPACT-5.7
      // SYNC-3.6: an authority would judge the peer's change as ours; its writer sends it.
      if (noForwardTo?.(path.transport, path.peer)) continue
      // SYNC-3.8: nothing goes to an authority before its step 1 is answered: the step 2 carries it. Sent before
      // (unnumbered: the peer's hello is not known yet), a ruled relay refuses it as depending on clocks it lacks,
      // and fences the step 2 behind it without telling.
      if (!this.#greeted.has(path) && this.#isAuthority(path.transport, path.peer)) continue
      const seq = path.nextSeq()
      const tag = path.tag
      if (seq === null && tag === null) {
        plain ??= encodeSyncUpdate(update)
        path.send(plain)
      } else {
        path.send(encodeSyncUpdate(update, seq, tag))
        path.keep(seq, update)
        if (seq !== null && this.#rollback) {
          const client = this.#doc.clientID
          this.#heldOf(path).sent.push({
            seq,
            client,
            clock: Y.getState(this.#doc.store, client),
            step2: false,
            mark: this.#localChanges,
          })
        }
      }
    }
  }

  readonly #onAwarenessUpdate = (
    { added, updated, removed }: { added: number[]; updated: number[]; removed: number[] },
    origin: unknown,
  ): void => {
    const changed = [...added, ...updated, ...removed]
    if (changed.length === 0 || this.#paths.size === 0) return
    const message = encodeAwareness(awarenessProtocol.encodeAwarenessUpdate(this.awareness, changed))
    for (const path of this.#paths) {
      if (path !== origin) path.send(message)
    }
  }
}

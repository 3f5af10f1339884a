import * as Y from 'yjs'
import {
  CloseCode,
  INITIAL_EPOCH,
  WeftError,
  WeftErrorCode,
  compareEpochs,
  decodeEpochRecord,
  encodeEpochOffer,
  encodeEpochRecord,
  judgePeerEpoch,
  epochSeq,
  readEpochRecord,
  shouldStartEpoch,
  validateUpdate,
  type EpochRecord,
  type Hello,
  type ItemCounts,
} from '@weft/core'
import { archiveDiff, catchUpFor, loadEpochArchive, type EpochArchive } from './relayEpochArchive.js'
import { isEpochPeer, type EpochPeer } from './RelayEpochPeer.js'
import type { RelayDoc } from './RelayDoc.js'
import type { RelayEpochOptions } from './RelayOptions.js'
import { CompactionWorker } from './CompactionWorker.js'
import { DEFAULT_WORKER_MIN_BYTES } from './RelayCompaction.js'
import { runEpochSwitch, type EpochSwitchHost, type SwitchExecutor } from './runEpochSwitch.js'

/** What {@link RelayEpochs} needs of the hub. */
export type RelayEpochsHost = Omit<EpochSwitchHost, 'switched'>

/** Epoch state of one loaded document. */
export interface DocEpoch {
  /** The document's epoch record (`null` in the initial epoch `"0"`). */
  record: EpochRecord | null
  /** Switches of this document run one after the other. */
  queue: Promise<void>
  /** Switches queued or running. */
  tasks: number
  /** Updates accepted while a switch runs (not stored yet: RELAY-EPOCH-4), or `null` outside a switch. */
  held: Held[] | null
  /** Archives of left epochs, loaded on demand (a few per document). */
  readonly archives: Map<string, Promise<EpochArchive | null>>
  /** When the auto-start policy was last checked (ms since the epoch). */
  lastAutoCheck: number
}

/** An update accepted during a switch, with the promise of its durability. */
export interface Held {
  readonly update: Uint8Array
  resolve(): void
  reject(err: unknown): void
}

/** Archives kept in memory per document. */
const MAX_CACHED_ARCHIVES = 4
/** Default of `autoStart.minIntervalMs`. */
const DEFAULT_MIN_INTERVAL_MS = 60_000

const isEpochId = (id: string): boolean => {
  try {
    epochSeq(id)
    return true
  } catch {
    return false
  }
}

/**
 * The storing relay's part in history compaction (docs/spec/relay-protocol.md, RELAY-EPOCH-*; COMPACT-6.3): knows
 * each loaded document's epoch, decides per connection whether it is in that epoch (its hello, or for a stock
 * client its state vector), keeps updates of other epochs out, offers the next epoch to clients in older ones (with
 * the old-epoch catch-up from the archive), follows a writer's winning offer, and, as epoch authority, starts
 * epochs itself after a log compaction when the policy says so.
 */
export class RelayEpochs {
  readonly #host: EpochSwitchHost
  readonly #auto: RelayEpochOptions['autoStart']
  readonly #scaleOut: boolean
  readonly #docs = new WeakMap<RelayDoc, DocEpoch>()
  /** The epoch each connection last announced (or, for a stock client, was judged to be in). */
  readonly #peers = new WeakMap<EpochPeer, { epoch: string | null }>()
  readonly #running = new Set<Promise<void>>()
  /** Where switches run (RELAY-3.8). */
  readonly #exec: SwitchExecutor

  constructor(host: RelayEpochsHost, options: { epochs?: RelayEpochOptions | undefined; scaleOut: boolean }) {
    this.#host = {
      store: host.store,
      logger: host.logger,
      quiesce: (doc) => host.quiesce(doc),
      commit: (doc, update, forward) => host.commit(doc, update, forward),
      replaced: (doc, v1, bytes) => host.replaced(doc, v1, bytes),
      switched: (doc, record) => this.#greet(doc, record),
    }
    this.#auto = options.epochs?.autoStart
    this.#scaleOut = options.scaleOut
    this.#exec = {
      worker: options.epochs?.worker ?? CompactionWorker.shared(),
      minBytes: options.epochs?.workerMinBytes ?? DEFAULT_WORKER_MIN_BYTES,
    }
  }

  /**
   * A document was loaded with this stored meta: its epoch is the stored record's (RELAY-EPOCH-1). Throws
   * `store-corrupted` when the record does not verify: serving it in the wrong epoch would mix epochs.
   */
  attach(doc: RelayDoc, meta: Readonly<Record<string, string>>): void {
    const stored = readEpochRecord(meta)
    if (stored && !stored.ok) {
      throw new WeftError(
        WeftErrorCode.StoreCorrupted,
        `stored epoch record of ${doc.docId}: ${stored.reason}`,
      )
    }
    this.#docs.set(doc, {
      record: stored?.record ?? null,
      queue: Promise.resolve(),
      tasks: 0,
      held: null,
      archives: new Map(),
      lastAutoCheck: -Infinity,
    })
  }

  /** The document's epoch id (`"0"` until its first reset). */
  epochOf(doc: RelayDoc): string {
    return this.#docs.get(doc)?.record?.id ?? INITIAL_EPOCH
  }

  /** The tag for updates and step-2 answers: the epoch outside epoch 0, else `null` (COMPACT-6.1). */
  tag(doc: RelayDoc): string | null {
    return this.#docs.get(doc)?.record?.id ?? null
  }

  /** Whether `doc` has a switch queued or running (it is then not unloaded). */
  busy(doc: RelayDoc): boolean {
    return (this.#docs.get(doc)?.tasks ?? 0) > 0
  }

  /** Whether updates of `doc` are being held for a switch (RELAY-EPOCH-4). */
  switching(doc: RelayDoc): boolean {
    return this.#docs.get(doc)?.held != null
  }

  /** Resolves once every switch queued so far is done. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#running])
  }

  /**
   * A sync step 1 arrived (after its hello was recorded): decides whether the relay answers it with a step 2
   * (RELAY-EPOCH-2). A Weft client in an older epoch gets an offer instead; one in a newer epoch gets the relay's
   * step 1 (so that it offers its epoch); a stock client holding pre-reset state is closed (RELAY-EPOCH-3).
   */
  step1(
    doc: RelayDoc,
    peer: EpochPeer,
    sv: Uint8Array,
    decoded: Map<number, number>,
    hello: Hello | null,
  ): boolean {
    const st = this.#docs.get(doc)
    if (!st) return true
    const ours = st.record?.id ?? INITIAL_EPOCH
    const state = this.#peer(peer)
    const before = state.epoch
    const theirs = judgePeerEpoch(st.record, hello, decoded)
    if (!isEpochId(theirs)) {
      peer.closeWith(CloseCode.MalformedMessage, 'malformed epoch id in the hello')
      return false
    }
    state.epoch = theirs
    if (theirs === ours) {
      // The peer just arrived in our epoch: ask it for what it holds of it (its re-applied changes).
      if (before !== null && before !== theirs && peer.access === 'write') peer.announce()
      return true
    }
    if (!hello) {
      peer.closeWith(CloseCode.StaleEpoch, 'the document history was reset; reload it')
      return false
    }
    if (compareEpochs(ours, theirs) < 0) this.#offerTo(doc, st, peer, theirs, sv.slice())
    // The peer moved to a winning epoch: tell it ours, so that it offers its epoch.
    else if (before !== null && before !== theirs && peer.access === 'write') peer.announce()
    return false
  }

  /**
   * Whether an update (with its epoch tag) may be stored and forwarded (RELAY-EPOCH-2): only updates of the
   * document's epoch. An untagged update from a Weft client is of epoch 0; a stock client's is of the epoch it was
   * judged to be in. A stock client outside the epoch is closed.
   */
  admit(doc: RelayDoc, peer: EpochPeer, tag: string | null): boolean {
    const ours = this.epochOf(doc)
    if (peer.weft || tag !== null) return (tag ?? INITIAL_EPOCH) === ours
    if (ours === INITIAL_EPOCH || this.#peer(peer).epoch === ours) return true
    peer.closeWith(
      CloseCode.StaleEpoch,
      'update from a client without the current epoch; reload the document',
    )
    return false
  }

  /**
   * A Weft client asks for an epoch it passed without keeping it (SYNC-9.7, RELAY-EPOCH-8): answered from the
   * archive with the record that replaced it and the archived state beyond `sv`; nothing if there is no archive.
   */
  request(doc: RelayDoc, peer: EpochPeer, epoch: string, sv: Uint8Array): void {
    try {
      epochSeq(epoch)
      Y.decodeStateVector(sv)
    } catch {
      return peer.closeWith(CloseCode.MalformedMessage, 'malformed epoch request')
    }
    const st = this.#docs.get(doc)
    if (!st?.record || compareEpochs(st.record.id, epoch) >= 0) return
    this.#offerTo(doc, st, peer, epoch, sv.slice(), true)
  }

  /**
   * An `epoch-offer` from a client (RELAY-EPOCH-4): a malformed record or catch-up closes the connection; a
   * losing offer, one from a read-only connection, and (in scale-out mode) every offer is ignored; a winning child
   * of the document's epoch is followed.
   */
  offer(doc: RelayDoc, peer: EpochPeer, recordBytes: Uint8Array, catchUp: Uint8Array): void {
    const st = this.#docs.get(doc)
    if (!st) return
    const decoded = decodeEpochRecord(recordBytes)
    if (!decoded.ok) return peer.closeWith(CloseCode.MalformedMessage, `epoch record: ${decoded.reason}`)
    if (catchUp.byteLength > 0) {
      try {
        validateUpdate(catchUp, { strings: true })
      } catch {
        return peer.closeWith(CloseCode.MalformedMessage, 'malformed epoch catch-up')
      }
    }
    const { record } = decoded
    const log = this.#host.logger.child({ doc: doc.docId, offered: record.id, epoch: this.epochOf(doc) })
    if (this.#scaleOut)
      return void log.warn('epoch offer ignored: epochs are not supported in scale-out mode')
    if (peer.access !== 'write') return void log.debug('epoch offer from a read-only connection ignored')
    if (compareEpochs(record.id, this.epochOf(doc)) >= 0) return void log.debug('losing epoch offer ignored')
    if (record.parent !== this.epochOf(doc)) {
      return void log.debug('epoch offer ignored: its parent is not the document epoch')
    }
    const plan = { kind: 'offer', record, catchUp: catchUp.slice() } as const
    this.#enqueue(doc, st, () => runEpochSwitch(this.#host, this.#exec, doc, st, plan, log))
  }

  /**
   * A log compaction of `doc` succeeded (RELAY-EPOCH-5): as epoch authority (COMPACT-3.1), start an epoch when the
   * policy says so on `counts`, which the compaction's rebuild counted (the history is not decoded again for the
   * check), checking at most once per `minIntervalMs`. The switch re-checks on the quiesced state it decodes.
   */
  compacted(doc: RelayDoc, counts: ItemCounts): void {
    const auto = this.#auto
    const st = this.#docs.get(doc)
    if (!auto || !st || this.#scaleOut || st.tasks > 0) return
    const now = Date.now()
    if (now - st.lastAutoCheck < (auto.minIntervalMs ?? DEFAULT_MIN_INTERVAL_MS)) return
    st.lastAutoCheck = now
    if (counts.liveItems === 0 || !shouldStartEpoch(counts, auto)) return
    const log = this.#host.logger.child({ doc: doc.docId, epoch: this.epochOf(doc) })
    const plan = { kind: 'auto', policy: auto } as const
    this.#enqueue(doc, st, () => runEpochSwitch(this.#host, this.#exec, doc, st, plan, log))
  }

  /**
   * Holds an update that arrived while `doc` switches: it is stored once the switch is done (re-applied onto the
   * new epoch, or as it is if the switch did not happen). Resolves once it is durable.
   */
  hold(doc: RelayDoc, update: Uint8Array): Promise<void> {
    const held = this.#docs.get(doc)?.held
    if (!held) return Promise.reject(new Error('no switch in progress'))
    return new Promise<void>((resolve, reject) => held.push({ update: update.slice(), resolve, reject }))
  }

  /**
   * After a switch (RELAY-EPOCH-4): every Weft writer, and every Weft reader not yet in the new epoch, gets the
   * relay's step 1 with the new hello (those in the old epoch then announce theirs and get offers; those already in
   * the new one answer with what the relay lacks); stock clients hold old-epoch state and are closed.
   */
  #greet(doc: RelayDoc, record: EpochRecord): void {
    for (const peer of [...doc.peers]) {
      if (!isEpochPeer(peer)) continue
      if (!peer.weft) peer.closeWith(CloseCode.StaleEpoch, 'the document history was reset; reload it')
      else if (peer.access === 'write' || this.#peer(peer).epoch !== record.id) peer.announce()
    }
  }

  #peer(peer: EpochPeer): { epoch: string | null } {
    let state = this.#peers.get(peer)
    if (!state) {
      state = { epoch: null }
      this.#peers.set(peer, state)
    }
    return state
  }

  #enqueue(doc: RelayDoc, st: DocEpoch, task: () => Promise<void>): void {
    st.tasks++
    const run = st.queue
      .then(task)
      .catch((err: unknown) => this.#host.logger.error({ err, doc: doc.docId }, 'epoch switch failed'))
      .finally(() => {
        st.tasks--
        this.#running.delete(run)
      })
    st.queue = run
    this.#running.add(run)
  }

  /** COMPACT-6.1: the record that replaced the client's epoch, and the catch-up it lacks of that epoch. */
  #offerTo(
    doc: RelayDoc,
    st: DocEpoch,
    peer: EpochPeer,
    theirs: string,
    sv: Uint8Array,
    request = false,
  ): void {
    const current = st.record
    if (current === null) return
    let archive = st.archives.get(theirs)
    if (!archive) {
      archive = loadEpochArchive(this.#host.store, doc.docId, theirs).catch((err: unknown) => {
        this.#host.logger.warn({ err, doc: doc.docId, epoch: theirs }, 'could not load an epoch archive')
        st.archives.delete(theirs)
        return null
      })
      st.archives.set(theirs, archive)
      if (st.archives.size > MAX_CACHED_ARCHIVES) {
        const oldest = st.archives.keys().next().value
        if (oldest !== undefined) st.archives.delete(oldest)
      }
    }
    const state = this.#peer(peer)
    void archive.then((found) => {
      if (st.record !== current || !doc.peers.has(peer)) return
      if (request ? !found : state.epoch !== theirs) return
      let catchUp: Uint8Array = new Uint8Array(0)
      try {
        catchUp = request && found ? archiveDiff(found.stateV2, sv) : catchUpFor(found?.stateV2 ?? null, sv)
      } catch (err) {
        // The client then re-announces (EpochManager asks again on `missing-base`) or waits.
        this.#host.logger.warn({ err, doc: doc.docId }, 'could not compute an epoch catch-up')
      }
      peer.sendMessage(encodeEpochOffer(encodeEpochRecord(found?.child ?? current), catchUp))
    })
  }
}

import { WeftError, WeftErrorCode, type EpochRecord } from '@weft/core'
import { readEpochRecord, shouldStartEpoch, type ItemCounts } from '@weft/core/epochs'
import { epochIdOf, epochTag, type EpochOffering, type OfferJudgement } from '@weft/core/sync-engine'
import { archiveDiff, loadEpochArchive, type EpochArchive } from './relayEpochArchive.js'
import { isEpochPeer, type EpochPeer } from './RelayEpochPeer.js'
import type { RelayRoom, RoomEpoch } from './RelayRoom.js'
import type { RelayEpochOptions } from './RelayOptions.js'
import { CompactionWorker } from './CompactionWorker.js'
import { DEFAULT_WORKER_MIN_BYTES } from './RelayCompaction.js'
import { runEpochSwitch, type EpochSwitchHost, type SwitchExecutor } from './runEpochSwitch.js'

/** What {@link RelayEpochs} needs of the hub. */
export type RelayEpochsHost = Omit<EpochSwitchHost, 'switched'>

/** Default of `autoStart.minIntervalMs`. */
const DEFAULT_MIN_INTERVAL_MS = 60_000

/** What an archive offers (SYNC-9.3): the record that replaced its epoch, and what a peer lacks of its state. */
const offeringOf = (found: EpochArchive | null): EpochOffering | null =>
  found && { record: found.child, catchUp: (sv) => archiveDiff(found.stateV2, sv) }

/**
 * RELAY-EPOCH-5, the auto-start policy after a log compaction whose rebuild counted `counts`, at `now`: `'skip'`
 * (a switch is queued, or the last check is less than `minIntervalMs` old), `'checked'` (checked: no epoch), or
 * `'start'` an epoch.
 */
export const epochStartDecision = (
  auto: NonNullable<RelayEpochOptions['autoStart']>,
  st: Pick<RoomEpoch, 'tasks' | 'lastAutoCheck'>,
  counts: ItemCounts,
  now: number,
): 'skip' | 'checked' | 'start' => {
  if (st.tasks > 0 || now - st.lastAutoCheck < (auto.minIntervalMs ?? DEFAULT_MIN_INTERVAL_MS)) return 'skip'
  return counts.liveItems === 0 || !shouldStartEpoch(counts, auto) ? 'checked' : 'start'
}

/**
 * The storing relay's part in history compaction (docs/spec/relay-protocol.md, RELAY-EPOCH-*; COMPACT-6.3): knows
 * each loaded document's epoch and its archives of left epochs (what each connection's protocol offers clients in
 * older epochs; the per-connection decisions are `ProtocolPath`'s, as on clients), follows a writer's winning offer,
 * and, as epoch authority, starts epochs itself after a log compaction when the policy says so.
 */
export class RelayEpochs {
  readonly #host: EpochSwitchHost
  readonly #auto: RelayEpochOptions['autoStart']
  readonly #scaleOut: boolean
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
      switched: (doc) => this.#greet(doc),
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
  attach(doc: RelayRoom, meta: Readonly<Record<string, string>>): void {
    const stored = readEpochRecord(meta)
    if (stored && !stored.ok) {
      throw new WeftError(
        WeftErrorCode.StoreCorrupted,
        `stored epoch record of ${doc.docId}: ${stored.reason}`,
      )
    }
    doc.epoch.loaded(stored?.record ?? null)
  }

  /** The document's epoch id (`"0"` until its first reset). */
  epochOf(doc: RelayRoom): string {
    return epochIdOf(this.recordOf(doc))
  }

  /** The document's epoch record (`null` in the initial epoch). */
  recordOf(doc: RelayRoom): EpochRecord | null {
    return doc.epoch.record
  }

  /** The tag for updates and step-2 answers: the epoch outside epoch 0, else `null` (COMPACT-6.1). */
  tag(doc: RelayRoom): string | null {
    return epochTag(this.recordOf(doc))
  }

  /** Whether `doc` has a switch queued or running (it is then not unloaded). */
  busy(doc: RelayRoom): boolean {
    return doc.epochBusy
  }

  /** Whether updates of `doc` are being held for a switch (RELAY-EPOCH-4). */
  switching(doc: RelayRoom): boolean {
    return doc.epoch.holding
  }

  /** Resolves once every switch queued so far is done. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#running])
  }

  /**
   * What to offer a client of `doc` found in the older epoch `epoch` (COMPACT-6.1, RELAY-EPOCH-3, 8): the record that
   * replaced it and the catch-up from its archive, loaded once and kept for the next client (a few per document);
   * `null` when there is no archive (the connection's protocol then offers the current record, no catch-up).
   */
  archive(doc: RelayRoom, epoch: string): Promise<EpochOffering | null> | null {
    const st = doc.epoch
    const archive = st.archive(epoch, () =>
      loadEpochArchive(this.#host.store, doc.docId, epoch).catch((err: unknown) => {
        this.#host.logger.warn({ err, doc: doc.docId, epoch }, 'could not load an epoch archive')
        st.archiveFailed(epoch)
        return null
      }),
    )
    return archive.then(offeringOf)
  }

  /**
   * A client offered an epoch (RELAY-EPOCH-4; its record and catch-up were checked by its protocol, `judgement` is
   * `judgeOffer`'s): a losing offer, one from a read-only connection, and (in scale-out mode) every offer is ignored;
   * a winning child of the document's epoch is followed.
   */
  offered(
    doc: RelayRoom,
    peer: EpochPeer,
    record: EpochRecord,
    catchUp: Uint8Array,
    judgement: OfferJudgement,
  ): void {
    const st = doc.epoch
    const log = this.#host.logger.child({ doc: doc.docId, offered: record.id, epoch: epochIdOf(st.record) })
    if (this.#scaleOut)
      return void log.warn('epoch offer ignored: epochs are not supported in scale-out mode')
    if (peer.access !== 'write') return void log.debug('epoch offer from a read-only connection ignored')
    if (judgement === 'not-winning') return void log.debug('losing epoch offer ignored')
    if (judgement === 'sibling')
      return void log.debug('epoch offer ignored: its parent is not the document epoch')
    const plan = { kind: 'offer', record, catchUp: catchUp.slice() } as const
    this.#enqueue(doc, st, () => runEpochSwitch(this.#host, this.#exec, doc, plan, log))
  }

  /**
   * A log compaction of `doc` succeeded (RELAY-EPOCH-5): as epoch authority (COMPACT-3.1), start an epoch when the
   * policy says so on `counts`, which the compaction's rebuild counted (the history is not decoded again for the
   * check), checking at most once per `minIntervalMs`. The switch re-checks on the quiesced state it decodes.
   */
  compacted(doc: RelayRoom, counts: ItemCounts): void {
    const auto = this.#auto
    const st = doc.epoch
    if (!auto || this.#scaleOut) return
    const now = Date.now()
    const decision = epochStartDecision(auto, st, counts, now)
    if (decision === 'skip') return
    st.autoChecked(now)
    if (decision !== 'start') return
    const log = this.#host.logger.child({ doc: doc.docId, epoch: this.epochOf(doc) })
    const plan = { kind: 'auto', policy: auto } as const
    this.#enqueue(doc, st, () => runEpochSwitch(this.#host, this.#exec, doc, plan, log))
  }

  /**
   * Holds an update that arrived while `doc` switches: it is stored once the switch is done (re-applied onto the
   * new epoch, or as it is if the switch did not happen). Resolves once it is durable.
   */
  hold(doc: RelayRoom, update: Uint8Array): Promise<void> {
    const st = doc.epoch
    if (!st.holding) return Promise.reject(new Error('no switch in progress'))
    return new Promise<void>((resolve, reject) => st.hold({ update: update.slice(), resolve, reject }))
  }

  /**
   * After a switch (RELAY-EPOCH-4): every client connection's handshake starts again (`ProtocolPath.epochChanged`:
   * Weft writers, and Weft readers not yet in the new epoch, get the relay's step 1 with the new hello; stock clients
   * hold old-epoch state and are closed).
   */
  #greet(doc: RelayRoom): void {
    for (const peer of [...doc.peers]) if (isEpochPeer(peer)) peer.epochChanged()
  }

  #enqueue(doc: RelayRoom, st: RoomEpoch, task: () => Promise<void>): void {
    const failed = (err: unknown) => this.#host.logger.error({ err, doc: doc.docId }, 'epoch switch failed')
    const run = st.enqueue(task, failed).finally(() => this.#running.delete(run))
    this.#running.add(run)
  }
}

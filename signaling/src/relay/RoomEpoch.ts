import type { Logger } from 'pino'
import type { DocStore, EpochRecord } from '@weft/core'
import type { ItemCounts } from '@weft/core/epochs'
import { epochIdOf, epochTag, type EpochOffering, type OfferJudgement } from '@weft/core/sync-engine'
import { archiveDiff, loadEpochArchive, type EpochArchive } from './relayEpochArchive.js'
import type { EpochPeer } from './RelayEpochPeer.js'
import { epochStartDecision } from './RelayEpochs.js'
import type { RelayEpochOptions } from './RelayOptions.js'
import { runEpochSwitch, type EpochPlan, type SwitchExecutor, type SwitchingRoom } from './runEpochSwitch.js'

/** Archives of left epochs kept in memory per room. */
const MAX_CACHED_ARCHIVES = 4

/** An update accepted during an epoch switch, with the promise of its durability. */
export interface Held {
  readonly update: Uint8Array
  resolve(): void
  reject(err: unknown): void
}

/** What every room's epoch shares (made once by `RelayEpochs`): the store, the policies and where switches run. */
export interface EpochSettings {
  readonly store: DocStore
  readonly logger: Logger
  /** RELAY-EPOCH-5: the auto-start policy, or `undefined` when the relay starts no epochs itself. */
  readonly autoStart: RelayEpochOptions['autoStart']
  /**
   * Why clients' epoch offers to a room are ignored (logged as a warning), or `null` when a winning offer is followed
   * (`offersIgnoredBy`).
   */
  offersIgnored(room: string): string | null
  /** Where switches run (RELAY-3.8). */
  readonly exec: SwitchExecutor
  /** Told of every queued switch (so that the relay's close can wait for them). */
  track(run: Promise<void>): void
}

/** What an archive offers (SYNC-9.3): the record that replaced its epoch, and what a peer lacks of its state. */
const offeringOf = (found: EpochArchive | null): EpochOffering | null =>
  found && { record: found.child, catchUp: (sv) => archiveDiff(found.stateV2, sv) }

/**
 * The epoch of one loaded room (RELAY-EPOCH-*), owned by its {@link RelayRoom}: its epoch record, its queue of
 * switches, the updates held during a switch and the archives of left epochs it loaded. It decides, for its room,
 * whether to follow a client's offer (RELAY-EPOCH-4) or to start an epoch after a log compaction (RELAY-EPOCH-5),
 * and runs the switch on its room ({@link runEpochSwitch}: quiesce, commit, replace, through the room's own commit
 * handle). Each field has one writer, this class.
 */
export class RoomEpoch {
  readonly #room: SwitchingRoom
  readonly #settings: EpochSettings
  #record: EpochRecord | null = null
  /** Switches of this room run one after the other. */
  #queue: Promise<void> = Promise.resolve()
  #tasks = 0
  /** Updates accepted while a switch runs (not stored yet: RELAY-EPOCH-4), or `null` outside a switch. */
  #held: Held[] | null = null
  /** Archives of left epochs, loaded on demand (a few per room, the oldest dropped first). */
  readonly #archives = new Map<string, Promise<EpochArchive | null>>()
  #lastAutoCheck = -Infinity

  constructor(room: SwitchingRoom, settings: EpochSettings) {
    this.#room = room
    this.#settings = settings
  }

  /** The room's epoch record (`null` in the initial epoch `"0"`). */
  get record(): EpochRecord | null {
    return this.#record
  }
  /** The room's epoch id (`"0"` until its first reset). */
  get id(): string {
    return epochIdOf(this.#record)
  }
  /** The tag for updates and step-2 answers: the epoch outside epoch 0, else `null` (COMPACT-6.1). */
  get tag(): string | null {
    return epochTag(this.#record)
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

  /**
   * A client offered an epoch (RELAY-EPOCH-4; its record and catch-up were checked by its protocol, `judgement` is
   * `judgeOffer`'s): ignored when the relay ignores offers to this room (scale-out, an `onUpdate` hook, the room's
   * rules), from a read-only connection, or losing; a winning child of the room's epoch is followed.
   */
  offered(peer: EpochPeer, record: EpochRecord, catchUp: Uint8Array, judgement: OfferJudgement): void {
    const log = this.#settings.logger.child({ doc: this.#room.docId, offered: record.id, epoch: this.id })
    const ignored = this.#settings.offersIgnored(this.#room.docId)
    if (ignored !== null) return void log.warn(ignored)
    if (peer.access !== 'write') return void log.debug('epoch offer from a read-only connection ignored')
    if (judgement === 'not-winning') return void log.debug('losing epoch offer ignored')
    if (judgement === 'sibling')
      return void log.debug('epoch offer ignored: its parent is not the document epoch')
    this.#switch({ kind: 'offer', record, catchUp: catchUp.slice() }, log)
  }

  /**
   * A log compaction of the room was stored (RELAY-EPOCH-5): as epoch authority (COMPACT-3.1), start an epoch when
   * the policy says so on `counts`, which the compaction's rebuild counted (the history is not decoded again for the
   * check), checking at most once per `minIntervalMs`. The switch re-checks on the quiesced state it decodes.
   */
  compacted(counts: ItemCounts): void {
    const auto = this.#settings.autoStart
    if (!auto) return
    const now = Date.now()
    const decision = epochStartDecision(auto, this, counts, now)
    if (decision === 'skip') return
    this.#lastAutoCheck = now
    if (decision !== 'start') return
    this.#switch(
      { kind: 'auto', policy: auto },
      this.#settings.logger.child({ doc: this.#room.docId, epoch: this.id }),
    )
  }

  /**
   * Holds an update that arrived while the room switches (RELAY-EPOCH-4): it is stored once the switch is done
   * (re-applied onto the new epoch, or as it is if the switch did not happen). Resolves once it is durable; `null`
   * when no switch holds updates.
   */
  hold(update: Uint8Array): Promise<void> | null {
    const held = this.#held
    if (!held) return null
    return new Promise<void>((resolve, reject) => held.push({ update: update.slice(), resolve, reject }))
  }

  /**
   * What to offer a client found in the older epoch `epoch` (COMPACT-6.1, RELAY-EPOCH-3, 8): the record that replaced
   * it and the catch-up from its archive, loaded once and kept for the next client (a few per room); `null` when
   * there is no archive (the connection's protocol then offers the current record, no catch-up).
   */
  offering(epoch: string): Promise<EpochOffering | null> {
    let archive = this.#archives.get(epoch)
    if (!archive) {
      const { store, logger } = this.#settings
      archive = loadEpochArchive(store, this.#room.docId, epoch).catch((err: unknown) => {
        logger.warn({ err, doc: this.#room.docId, epoch }, 'could not load an epoch archive')
        // Forgotten, so that the next client's request loads it again.
        this.#archives.delete(epoch)
        return null
      })
      this.#archives.set(epoch, archive)
      if (this.#archives.size > MAX_CACHED_ARCHIVES) {
        const oldest = this.#archives.keys().next().value
        if (oldest !== undefined) this.#archives.delete(oldest)
      }
    }
    return archive.then(offeringOf)
  }

  /** A switch starts: updates accepted from now on are held (RELAY-EPOCH-4); returns the list that holds them. */
  startHolding(): Held[] {
    const held: Held[] = []
    this.#held = held
    return held
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

  /** Queues a switch of the room after its other switches. */
  #switch(plan: EpochPlan, log: Logger): void {
    const settings = this.#settings
    this.#tasks++
    const run = this.#queue
      .then(() => runEpochSwitch(this.#room, settings, plan, log))
      .catch((err: unknown) => settings.logger.error({ err, doc: this.#room.docId }, 'epoch switch failed'))
      .finally(() => {
        this.#tasks--
      })
    this.#queue = run
    settings.track(run)
  }
}

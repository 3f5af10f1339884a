import type { Logger } from 'pino'
import { WeftError, WeftErrorCode, type DocStore, type EpochRecord } from '@weft/core'
import { readEpochRecord, shouldStartEpoch, type ItemCounts } from '@weft/core/epochs'
import type { EpochOffering, OfferJudgement } from '@weft/core/sync-engine'
import type { EpochPeer } from './RelayEpochPeer.js'
import type { RelayRoom } from './RelayRoom.js'
import type { RelayEpochOptions } from './RelayOptions.js'
import type { EpochSettings, RoomEpoch } from './RoomEpoch.js'
import { CompactionWorker } from './CompactionWorker.js'
import { DEFAULT_WORKER_MIN_BYTES } from './RelayCompaction.js'

/** Default of `autoStart.minIntervalMs`. */
const DEFAULT_MIN_INTERVAL_MS = 60_000

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

/** Options of {@link RelayEpochs}. */
export interface RelayEpochsOptions {
  readonly store: DocStore
  readonly logger: Logger
  readonly epochs?: RelayEpochOptions | undefined
  /** Scale-out mode: epochs are not supported (offers ignored, none started; RELAY-EPOCH-7). */
  readonly scaleOut: boolean
  /**
   * An `onUpdate` hook screens every change (HOOK-3.7): a client's epoch offer makes its record's state and its
   * catch-up the document, which the hook cannot screen update by update, so offers are ignored.
   */
  readonly screened: boolean
  /**
   * Whether `room` has rules (RULES-4.7): they check every change, so, as with a hook, clients' offers to it are
   * ignored. Absent: no room has rules.
   */
  readonly ruled?: ((room: string) => boolean) | undefined
}

/**
 * Why clients' epoch offers to `room` are ignored, or `null` when a winning offer is followed (RELAY-EPOCH-4): the one
 * place that says which rooms screen their writes. A followed offer makes the record's `initial` and its catch-up the
 * document without passing any check, so a room whose writes are screened (an `onUpdate` hook, HOOK-3.7; the room's
 * rules, RULES-4.7) ignores offers; in scale-out mode epochs are not supported (RELAY-EPOCH-7).
 */
export const offersIgnoredBy =
  (options: Pick<RelayEpochsOptions, 'scaleOut' | 'screened' | 'ruled'>) =>
  (room: string): string | null => {
    if (options.screened) return 'epoch offer ignored: the onUpdate hook screens every change'
    if (options.ruled?.(room)) return 'epoch offer ignored: the room rules check every change'
    if (options.scaleOut) return 'epoch offer ignored: epochs are not supported in scale-out mode'
    return null
  }

/**
 * The storing relay's part in history compaction (docs/spec/relay-protocol.md, RELAY-EPOCH-*; COMPACT-6.3), across
 * rooms: the settings every room's {@link RoomEpoch} shares (the store, the auto-start policy, whether offers are
 * followed, the switch executor), the verification of a loaded room's record, and the waiting for running switches
 * at close. Each room's epoch (its record, archives, switches) is its own `RoomEpoch`; the calls a connection makes
 * (`recordOf`, `archive`, `offered`: the per-connection decisions are `ProtocolPath`'s, as on clients) go to it.
 */
export class RelayEpochs {
  readonly #running = new Set<Promise<void>>()
  /** What every room's epoch shares. */
  readonly settings: EpochSettings

  constructor(options: RelayEpochsOptions) {
    const epochs = options.epochs
    this.settings = {
      store: options.store,
      logger: options.logger,
      // RELAY-EPOCH-7: in scale-out mode the relay starts no epochs.
      autoStart: options.scaleOut ? undefined : epochs?.autoStart,
      offersIgnored: offersIgnoredBy(options),
      exec: {
        worker: epochs?.worker ?? CompactionWorker.shared(),
        minBytes: epochs?.workerMinBytes ?? DEFAULT_WORKER_MIN_BYTES,
      },
      track: (run) => {
        const tracked = run.finally(() => this.#running.delete(tracked))
        this.#running.add(tracked)
      },
    }
  }

  /**
   * The epoch record stored in a loaded room's `meta` (RELAY-EPOCH-1): `null` in epoch "0". Throws `store-corrupted`
   * when the record does not verify: serving the room in the wrong epoch would mix epochs.
   */
  storedRecord(doc: RelayRoom, meta: Readonly<Record<string, string>>): EpochRecord | null {
    const stored = readEpochRecord(meta)
    if (stored && !stored.ok) {
      throw new WeftError(
        WeftErrorCode.StoreCorrupted,
        `stored epoch record of ${doc.docId}: ${stored.reason}`,
      )
    }
    return stored?.record ?? null
  }

  /** The room's epoch record (`null` in the initial epoch). */
  recordOf(doc: RelayRoom): EpochRecord | null {
    return doc.epoch.record
  }

  /** What to offer a client of `doc` found in the older epoch `epoch` (RoomEpoch.offering). */
  archive(doc: RelayRoom, epoch: string): Promise<EpochOffering | null> {
    return doc.epoch.offering(epoch)
  }

  /** A client of `doc` offered an epoch (RoomEpoch.offered). */
  offered(
    doc: RelayRoom,
    peer: EpochPeer,
    record: EpochRecord,
    catchUp: Uint8Array,
    judgement: OfferJudgement,
  ): void {
    doc.epoch.offered(peer, record, catchUp, judgement)
  }

  /** Resolves once every switch queued so far is done. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#running])
  }
}

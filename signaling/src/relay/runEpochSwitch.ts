import type { Logger } from 'pino'
import { type DocId, type DocStore, type EpochPolicy, type EpochRecord } from '@weft/core'
import {
  decodeEpochRecord,
  encodeEpochRecord,
  persistEpochSnapshot,
  writeEpochArchive,
} from '@weft/core/epochs'
import { judgeOffer } from '@weft/core/sync-engine'
import type { CompactionWorker } from './CompactionWorker.js'
import type { SwitchLate, SwitchPlan, SwitchStart } from './compactionTasks.js'
import type { EpochArchive } from './relayEpochArchive.js'
import type { Held, RoomEpoch } from './RoomEpoch.js'

/**
 * What a switch needs of the room it switches (a {@link RelayRoom}): its state, its epoch, and the three steps only
 * the room takes on itself, through the commit handle it owns.
 */
export interface SwitchingRoom {
  readonly docId: DocId
  readonly epoch: RoomEpoch
  /** Store clock of the room's last durable write. */
  readonly lastClock: number
  /** The room's state, as parts (read only). */
  readonly log: { readonly byteLength: number; parts(): readonly Uint8Array[] }
  /** Resolves once every accepted update of the room is durable and no log compaction of it runs. */
  quiesce(): Promise<void>
  /**
   * Appends `update` to the room's state, stores it and forwards it to the room (in its epoch); resolves once it is
   * durable, rejects when the update is refused (RELAY-9.1, 9.4, 9.5).
   */
  commitAndForward(update: Uint8Array): Promise<void>
  /**
   * The switch to `record` is stored: the room's state becomes `v1` (stored as a snapshot of `snapshotBytes`), its
   * epoch keeps `archive` for the clients of the epoch it left, and its connections are greeted again, in one
   * synchronous step (RELAY-EPOCH-4).
   */
  switchedTo(record: EpochRecord, archive: EpochArchive, v1: Uint8Array, snapshotBytes: number): void
}

/** What a switch needs besides its room: the store, a logger, and where its work runs. */
export interface SwitchSettings {
  readonly store: DocStore
  readonly logger: Logger
  readonly exec: SwitchExecutor
}

/** Where a switch's work runs (RELAY-3.8): the worker thread for states of at least `minBytes`, else inline. */
export interface SwitchExecutor {
  readonly worker: CompactionWorker
  readonly minBytes: number
}

/** How the new epoch is chosen: follow a client's offer, or start one as authority. */
export type EpochPlan =
  | { readonly kind: 'offer'; readonly record: EpochRecord; readonly catchUp: Uint8Array }
  | { readonly kind: 'auto'; readonly policy: Partial<EpochPolicy> }

/**
 * Switches one relay room to a new epoch (RELAY-EPOCH-4), queued by the room's own `RoomEpoch`; every step that
 * touches the room is the room's (`SwitchingRoom`), nothing goes through the hub. Updates that arrive meanwhile are
 * forwarded but held (not stored); then: wait until every accepted update is durable and no log compaction runs
 * (`quiesce`, through the room's commit handle); decode the state once
 * and build the new epoch from it (the plan: a client's record with the old changes it lacks re-applied, or, as
 * authority, a fresh epoch if the policy still says so), in the compaction worker for a large state (RELAY-3.8);
 * archive the old state (`<doc>~epoch~<old>`, a V2 snapshot with the record that replaced it, COMPACT-6.2b);
 * `persistEpoch` (one atomic store step); replace the in-memory state and greet the connections again (`switchedTo`,
 * one synchronous step); then re-apply the held updates onto the new epoch and store (and forward) what they change,
 * as one diff against its state (`commitAndForward`). A crash before `persistEpoch` completes leaves the old epoch
 * with every acknowledged update (held ones were never acknowledged); after, the new one. If the switch does not
 * happen, the held updates are stored in the old epoch, in the order they came.
 */
export const runEpochSwitch = async (
  room: SwitchingRoom,
  settings: SwitchSettings,
  plan: EpochPlan,
  log: Logger,
): Promise<void> => {
  const { exec, store, logger } = settings
  const st = room.epoch
  const queue = st.startHolding()
  const session = exec.worker.session()
  let inline = true
  let started = false
  let done = false
  try {
    await room.quiesce()
    const fromEpoch = st.id
    if (plan.kind === 'offer' && judgeOffer(plan.record, fromEpoch) !== 'child') {
      return void log.debug('epoch offer ignored: the document moved to another epoch meanwhile')
    }
    const parts = room.log.parts()
    inline = room.log.byteLength < exec.minBytes
    const lastClock = room.lastClock
    const request: SwitchPlan =
      plan.kind === 'offer'
        ? { kind: 'offer', record: encodeEpochRecord(plan.record), catchUp: plan.catchUp }
        : { kind: 'auto', parent: st.record ? encodeEpochRecord(st.record) : null, policy: plan.policy }
    started = true
    const { result } = await exec.worker.run<SwitchStart>(
      { op: 'switch-start', session, parts, plan: request },
      inline,
    )
    if (!result.ok) return void logNoSwitch(log, result.reason)
    const decoded = decodeEpochRecord(result.record)
    if (!decoded.ok) return void log.error({ reason: decoded.reason }, 'epoch switch built a bad record')
    const record = decoded.record
    if (plan.kind === 'auto') log.info({ started: record.id }, 'starting an epoch (history reset)')
    // The archive first: once the switch is stored, peers of the old epoch are served from it (RELAY-EPOCH-3).
    await writeEpochArchive(store, room.docId, fromEpoch, result.archiveV2, record, { format: 'v2' })
    const persisted = await persistEpochSnapshot(store, room.docId, record, result.nextV2, lastClock)
    if (!persisted.ok) return void logger.warn({ doc: room.docId }, 'epoch switch was stale; not switched')
    done = true
    // Synchronous from here on: nothing can be accepted between the switch and the greeting. The held updates
    // (old-epoch changes) are re-applied afterwards (below): waiting for them here would let a client that keeps
    // editing hold the switch open for ever.
    const late = queue.splice(0)
    const archive = { epoch: fromEpoch, child: record, stateV2: result.archiveV2 }
    room.switchedTo(record, archive, result.nextV1, result.nextV2.byteLength)
    logger.info({ doc: room.docId, from: fromEpoch, epoch: record.id }, 'switched epoch')
    if (late.length === 0) return
    const outcome = await reapply(exec, session, late, inline)
    if (!outcome.ok) {
      // Not re-applied (missing dependencies, or the old view lacks the base): never acknowledged as stored. The
      // senders keep them pending and bring them again from the new epoch, re-applied (RELAY-EPOCH-4).
      const err = new Error('held update could not be re-applied onto the new epoch')
      logger.warn({ doc: room.docId, held: late.length }, err.message)
      for (const h of late) h.reject(err)
      return
    }
    // One diff against the new epoch's state; forwarded, since the room was greeted with the state before it.
    // Updates the new epoch already held (no changes) are stored there already.
    const durable = outcome.changes ? room.commitAndForward(outcome.changes) : Promise.resolve()
    for (const h of late) durable.then(h.resolve, h.reject)
  } finally {
    if (started) {
      exec.worker
        .run({ op: 'switch-end', session }, inline)
        .catch((err: unknown) => logger.debug({ err }, 'could not free a switch in the worker'))
    }
    const held = st.stopHolding()
    // No switch: the held updates are stored in the old epoch, and forwarded again for connections that joined
    // meanwhile (their step 2 came from the state without them; the others ignore what they already hold).
    if (!done) for (const h of held) room.commitAndForward(h.update).then(h.resolve, h.reject)
  }
}

const reapply = async (
  exec: SwitchExecutor,
  session: number,
  late: readonly Held[],
  inline: boolean,
): Promise<SwitchLate> => {
  try {
    const updates = late.map((h) => h.update)
    return (await exec.worker.run<SwitchLate>({ op: 'switch-late', session, updates }, inline)).result
  } catch {
    return { ok: false }
  }
}

const logNoSwitch = (log: Logger, reason: Extract<SwitchStart, { ok: false }>['reason']): void => {
  if (reason === 'missing-base')
    log.warn({ reason }, 'epoch offer not followed: the relay lacks part of its base')
  else if (reason === 'bad-record')
    log.error({ reason }, 'epoch switch not started: a record does not verify')
  else log.debug({ reason }, 'no epoch started')
}

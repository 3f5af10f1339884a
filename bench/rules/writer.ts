/**
 * The writer's side of a refusal, with a Weft client (`openDoc` with a `WebSocketTransport` to the relay and a
 * SQLite store in memory, so it announces the `rollback` feature): how long a refused change takes to come back
 * rejected and rolled back, beside an accepted change's round trip; and the relay CPU a refusal costs on a large room
 * (the refused check, then the validating view rebuilt from the room's whole state at the writer's restoring update,
 * docs/guides/rules.md "Cost of a refusal on the relay") beside an accepted update's.
 */
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import { openDoc, WebSocketTransport, type WeftDoc } from '@weft/providers'
import { SqliteDocStore } from '@weft/providers/node'
import { connectClient, tallyCloses } from '../server/connectClient.js'
import { LOCKED, typedBoard, untilDocs } from './board.js'
import type { RulesRelay } from './relay.js'

const gc = (): void => (globalThis as { gc?: () => void }).gc?.()

/** A synced Weft client of `room` (the demo's anonymous writer: no token). */
export const openWriter = async (relay: RulesRelay, room: string): Promise<WeftDoc> => {
  const doc = await openDoc({
    docId: room,
    store: new SqliteDocStore({ path: ':memory:' }),
    relay: new WebSocketTransport({ url: relay.url, room, WebSocketPolyfill: WebSocket }),
  })
  await doc.whenSynced
  return doc
}

/** Resolves once the relay acknowledged every local change of `doc` (its pending count is 0). */
const acknowledged = (doc: WeftDoc): Promise<void> =>
  new Promise((resolve) => {
    const check = ({ pendingChanges }: { pendingChanges: number }) => {
      if (pendingChanges !== 0) return
      doc.handle.off('pending-changed', check)
      resolve()
    }
    doc.handle.on('pending-changed', check)
    check({ pendingChanges: doc.pendingChanges })
  })

const xOf = (doc: WeftDoc, id: string): unknown => typedBoard(doc.doc).root.shapes.get(id)?.x

let step = 0

/** Times of one accepted change, in ms from the change. */
export interface AcceptedTimes {
  /** Until another client (a stock y-websocket client of the room) held it; `NaN` without one. */
  readonly deliveredMs: number
  /** Until the relay acknowledged it (stored durably). */
  readonly acknowledgedMs: number
}

/**
 * Moves unlocked shape `id` (allowed); resolves once the relay acknowledged it and `reader` (if given) received it.
 */
export const acceptedChange = async (doc: WeftDoc, id = 's0', reader?: Y.Doc): Promise<AcceptedTimes> => {
  const x = 100 + (step++ % 1000)
  const t0 = performance.now()
  let deliveredMs = Number.NaN
  const delivered = reader
    ? untilDocs([reader], () => typedBoard(reader).root.shapes.get(id)?.x === x).then(
        () => (deliveredMs = performance.now() - t0),
      )
    : Promise.resolve()
  const r = typedBoard(doc.doc).root.shapes.update(id, { x })
  if (!r.ok) throw new Error('the schema refused the move')
  await acknowledged(doc)
  const acknowledgedMs = performance.now() - t0
  await delivered
  return { deliveredMs, acknowledgedMs }
}

/** Times of one refused change, in ms from the change. */
export interface RefusalTimes {
  /** Until the document held the shape's old value again (the rollback done). */
  readonly backMs: number
  /** Until the `rejected` event. */
  readonly rejectedMs: number
  /** Until the relay acknowledged everything the writer sent (the refused update and its restore). */
  readonly settledMs: number
}

/**
 * Moves the shape locked by another user ({@link LOCKED}), which the demo's rules refuse (`shapes.update`); resolves
 * once the writer rolled back and the relay acknowledged its restore.
 */
export const refusedChange = async (doc: WeftDoc): Promise<RefusalTimes> => {
  const before = xOf(doc, LOCKED)
  let backMs = Number.NaN
  let rejectedMs = Number.NaN
  let t0 = 0
  const onUpdate = () => {
    if (Number.isNaN(backMs) && xOf(doc, LOCKED) === before) backMs = performance.now() - t0
  }
  const rejected = new Promise<void>((resolve) => {
    const on = ({ ruleId }: { ruleId: string }) => {
      if (ruleId !== 'shapes.update') throw new Error(`refused under ${ruleId}, expected shapes.update`)
      rejectedMs = performance.now() - t0
      doc.handle.off('rejected', on)
      resolve()
    }
    doc.handle.on('rejected', on)
  })
  t0 = performance.now()
  const r = typedBoard(doc.doc).root.shapes.update(LOCKED, { x: 200 + (step++ % 1000) })
  if (!r.ok) throw new Error('the schema refused the move')
  doc.doc.on('update', onUpdate)
  await rejected
  doc.doc.off('update', onUpdate)
  if (xOf(doc, LOCKED) !== before) throw new Error('the refused move was not rolled back')
  await acknowledged(doc)
  return { backMs, rejectedMs, settledMs: performance.now() - t0 }
}

/** The rollback rows' figures: per round, medians taken by the caller. */
export interface RollbackResult {
  readonly accepted: AcceptedTimes[]
  readonly refused: RefusalTimes[]
}

/**
 * `rounds` accepted and `rounds` refused changes on `room`, alternated (after one of each untimed), with a stock
 * client of the room as the reader of the accepted ones.
 */
export const rollbackRounds = async (
  relay: RulesRelay,
  room: string,
  rounds: number,
): Promise<RollbackResult> => {
  const doc = await openWriter(relay, room)
  const reader = connectClient({ kind: 'weft', port: relay.port }, room)
  try {
    await reader.synced
    await acceptedChange(doc, 's0', reader.doc)
    await refusedChange(doc)
    const accepted: AcceptedTimes[] = []
    const refused: RefusalTimes[] = []
    for (let i = 0; i < rounds; i++) {
      gc()
      accepted.push(await acceptedChange(doc, 's0', reader.doc))
      gc()
      refused.push(await refusedChange(doc))
    }
    const closes = tallyCloses([reader])
    if (Object.keys(closes).length > 0) throw new Error(`the reader was closed: ${JSON.stringify(closes)}`)
    return { accepted, refused }
  } finally {
    reader.destroy()
    await doc.destroy()
  }
}

/** Relay CPU on a large room, per round. */
export interface RefusalCostResult {
  /** The writer's first update: the view built from the room's whole state (once per room load). */
  readonly firstCheckMs: number
  /** Per round: relay CPU per accepted update (the mean over a batch), ms. */
  readonly acceptedMs: number[]
  /**
   * Per round: relay CPU of one refusal, ms: the refused check, the writer's restore, the view rebuilt at the next
   * check (measured over the refusal plus one accepted update, less that round's CPU per accepted update).
   */
  readonly refusalMs: number[]
  readonly docBytes: number
}

/**
 * On `room` (a large board already in the relay's store): the first accepted update, then `rounds` times a batch of
 * `batch` accepted updates and (if `refusals`: on a ruled relay) one refused update, the relay's CPU read around each.
 */
export const refusalCost = async (
  relay: RulesRelay,
  room: string,
  rounds: number,
  batch: number,
  refusals = true,
): Promise<RefusalCostResult> => {
  const doc = await openWriter(relay, room)
  try {
    const docBytes = Y.encodeStateAsUpdate(doc.doc).byteLength
    let cpu = relay.cpuSeconds()
    await acceptedChange(doc)
    const firstCheckMs = (relay.cpuSeconds() - cpu) * 1000
    const acceptedMs: number[] = []
    const refusalMs: number[] = []
    for (let i = 0; i < rounds; i++) {
      cpu = relay.cpuSeconds()
      for (let j = 0; j < batch; j++) await acceptedChange(doc, `s${j}`)
      acceptedMs.push(((relay.cpuSeconds() - cpu) * 1000) / batch)
      const accepted = acceptedMs[acceptedMs.length - 1] as number
      if (!refusals) continue
      // The rebuild comes at the room's next check after the refusal: the writer's restore if it sends one, else the
      // next accepted update, which is included (and one accepted update's CPU taken off).
      cpu = relay.cpuSeconds()
      await refusedChange(doc)
      await acceptedChange(doc)
      refusalMs.push((relay.cpuSeconds() - cpu) * 1000 - accepted)
    }
    const [error] = relay.errors()
    if (error !== undefined) throw new Error(`${relay.name} logged an error during the measurement: ${error}`)
    return { firstCheckMs, acceptedMs, refusalMs, docBytes }
  } finally {
    await doc.destroy()
  }
}

import { createHash } from 'node:crypto'
import * as Y from 'yjs'
import { type DocId, type DocStore, type StoredDoc } from '@weft/core'
import { validateUpdate } from '@weft/core/protocol'
import { EMPTY_UPDATE, mergeUpdatesBatched } from './mergeUpdatesBatched.js'

/** One stored part (the snapshot or a tail update) that Yjs cannot merge or apply, kept aside (RELAY-9.3). */
export interface QuarantinedPart {
  /** `snapshot`, or the position of the update in the stored tail (0: the oldest). */
  readonly source: 'snapshot' | number
  readonly bytes: Uint8Array
  readonly reason: string
}

/** A stored document sorted into what can be served and what cannot. */
export interface ScreenedDoc {
  /** The servable state, in V1 (merged into one part when it was checked as a whole). */
  readonly parts: readonly Uint8Array[]
  readonly quarantined: readonly QuarantinedPart[]
  /** How deep the servable state's shared types nest (RELAY-9.5), as its whole-state check found. */
  readonly depth: number
}

const QUARANTINE_INFIX = '~quarantine~'

/** The document id under which the stored parts of `docId` that cannot be served are kept (RELAY-9.3). */
export const quarantineId = (docId: DocId): DocId => `${docId}${QUARANTINE_INFIX}` as DocId

/** Whether a document id (or a relay room) is a quarantine's (never served as a document of its own). */
export const isQuarantineId = (id: string): boolean => id.endsWith(QUARANTINE_INFIX)

const reasonOf = (err: unknown): string => (err instanceof Error ? err.message : String(err))

/** Where a stored part that cannot be served came from, and why (the bytes stay with the caller). */
export interface QuarantineVerdict {
  readonly source: 'snapshot' | number
  readonly reason: string
}

/**
 * {@link screenStoredParts}'s outcome: plain values and bytes only, so that it crosses a thread boundary (it runs in
 * the compaction worker for a large document, RELAY-3.11).
 */
export interface ScreenVerdict {
  /** The servable state merged into one V1 update (`null`: nothing is servable). */
  readonly merged: Uint8Array | null
  /** Its state vector, when Yjs could compute it (else the log computes it, salvaging). */
  readonly stateVector: Uint8Array | null
  readonly quarantined: readonly QuarantineVerdict[]
  /** How deep the servable state's shared types nest (RELAY-9.5), as its whole-state check found. */
  readonly depth: number
}

/**
 * RELAY-9.3: sorts a stored document's parts (a V2 snapshot, V1 tail updates) into those the relay may serve and
 * those it must not: each part must pass `validateUpdate` (strings included) and the parts must merge into a state
 * that passes it too (types nested deeper than allowed across many updates fail only there). A part that breaks the
 * merged state is found by merging the parts one at a time. Also computes the servable state's state vector, so a
 * load does no further whole-state work in the relay's thread (RELAY-3.11). Pure: writes nothing.
 */
export const screenStoredParts = (
  snapshot: Uint8Array | null,
  updates: readonly Uint8Array[],
): ScreenVerdict => {
  const quarantined: QuarantineVerdict[] = []
  const good: { source: 'snapshot' | number; v1: Uint8Array; depth: number }[] = []
  const take = (source: 'snapshot' | number, toV1: () => Uint8Array) => {
    try {
      const v1 = toV1()
      const { depth } = validateUpdate(v1, { strings: true })
      good.push({ source, v1, depth })
    } catch (err) {
      quarantined.push({ source, reason: reasonOf(err) })
    }
  }
  if (snapshot) take('snapshot', () => Y.convertUpdateFormatV2ToV1(snapshot))
  updates.forEach((u, i) => take(i, () => u))
  if (good.length === 0) return { merged: null, stateVector: null, quarantined, depth: 0 }
  const verdict = (merged: Uint8Array, depth: number): ScreenVerdict => {
    let stateVector: Uint8Array | null = null
    try {
      stateVector = Y.encodeStateVectorFromUpdate(merged)
    } catch {
      // Never with validated parts; the log salvages when it computes it.
    }
    return { merged, stateVector, quarantined, depth }
  }
  // One part: the whole state is that part, checked already (a second walk of a large snapshot would find the same).
  if (good.length === 1)
    return verdict((good[0] as (typeof good)[number]).v1, (good[0] as (typeof good)[number]).depth)
  try {
    const merged = mergeUpdatesBatched(good.map((g) => g.v1))
    // As a whole too: nesting built across parts fails only here (SYNC-3.5).
    const { depth } = validateUpdate(merged)
    return verdict(merged, depth)
  } catch {
    // Rare (a store written before SYNC-3.5): find the parts that break the whole, one at a time.
  }
  let acc = EMPTY_UPDATE
  let depth = 0
  for (const part of good) {
    try {
      const next = Y.mergeUpdates([acc, part.v1])
      depth = validateUpdate(next).depth
      acc = next
    } catch (err) {
      quarantined.push({ source: part.source, reason: reasonOf(err) })
    }
  }
  // Never hand over the shared empty update: a worker transfers the buffers of what it returns.
  return verdict(acc === EMPTY_UPDATE ? acc.slice() : acc, depth)
}

/** The stored bytes of each part `verdict` quarantined, from `stored` (the document the verdict screened). */
export const quarantinedParts = (stored: StoredDoc, verdict: ScreenVerdict): QuarantinedPart[] =>
  verdict.quarantined.map(({ source, reason }) => ({
    source,
    reason,
    bytes: (source === 'snapshot' ? stored.snapshot : stored.updates[source]) ?? new Uint8Array(),
  }))

/**
 * RELAY-9.3: {@link screenStoredParts} of a stored document, in this thread, with the quarantined parts' bytes (what
 * `weft inspect` and `weft compact` report and keep aside).
 */
export const screenStoredDoc = (stored: StoredDoc | null): ScreenedDoc => {
  if (!stored) return { parts: [], quarantined: [], depth: 0 }
  const verdict = screenStoredParts(stored.snapshot ?? null, stored.updates)
  return {
    parts: verdict.merged ? [verdict.merged] : [],
    quarantined: quarantinedParts(stored, verdict),
    depth: verdict.depth,
  }
}

/** One quarantined update as `weft inspect` reports it. */
export interface QuarantineEntry {
  readonly bytes: number
  readonly reason: string
  /** Whether it is kept in the document's quarantine (else it is still only in the document's own log). */
  readonly keptAside: boolean
}

/**
 * Every quarantined update of `docId` (RELAY-9.3): those kept aside in its quarantine and those of `screened` (the
 * document as stored) not kept aside yet, each once.
 */
export const quarantineReport = async (
  store: DocStore,
  docId: DocId,
  screened: ScreenedDoc,
): Promise<QuarantineEntry[]> => {
  const kept = await store.load(quarantineId(docId))
  const entries = new Map<string, QuarantineEntry>()
  for (const update of kept?.updates ?? []) {
    const key = `sha256:${digest(update)}`
    const note = kept?.meta[key]
    let reason = 'unknown'
    try {
      reason = note ? String((JSON.parse(note) as { reason?: unknown }).reason) : reason
    } catch {
      // A note that does not parse: the update is still reported.
    }
    entries.set(key, { bytes: update.byteLength, reason, keptAside: true })
  }
  for (const q of screened.quarantined) {
    const key = `sha256:${digest(q.bytes)}`
    if (!entries.has(key)) entries.set(key, { bytes: q.bytes.byteLength, reason: q.reason, keptAside: false })
  }
  return [...entries.values()]
}

const digest = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex').slice(0, 32)

/**
 * Keeps `parts` of `docId` aside under {@link quarantineId} (RELAY-9.3): each stored once (by content hash, in the
 * quarantine's meta with its reason), so loading the document again does not store them twice.
 */
export const keepAside = async (
  store: DocStore,
  docId: DocId,
  parts: readonly QuarantinedPart[],
): Promise<void> => {
  const id = quarantineId(docId)
  const known = (await store.load(id))?.meta ?? {}
  for (const part of parts) {
    const key = `sha256:${digest(part.bytes)}`
    if (known[key] !== undefined) continue
    await store.append(id, part.bytes)
    await store.setMeta(id, key, JSON.stringify({ source: part.source, reason: part.reason }))
  }
}

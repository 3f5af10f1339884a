import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { toHexString } from 'lib0/buffer'
import { digest } from 'lib0/hash/sha256'
import { WeftError, WeftErrorCode } from '../WeftError.js'
import type { ProvenanceRun } from './rebuildFresh.js'

/** Id of the first epoch of every document (COMPACT-3.2). */
export const INITIAL_EPOCH = '0'

/**
 * An epoch record (docs/spec/compaction.md, COMPACT-3.2): everything a peer needs to switch to the epoch and to
 * re-apply its own changes onto it ({@link @weft/core/epochs!rebaseOnto}).
 */
export interface EpochRecord {
  /** `"<seq>-<h>"`, `h` = the first 16 hex digits of SHA-256(parent, base, initial) ({@link epochRecordId}). */
  readonly id: string
  /** Id of the epoch this one replaces ({@link INITIAL_EPOCH} for the first reset). */
  readonly parent: string
  /** Parent's `seq` + 1; the initial epoch has `seq` 0. */
  readonly seq: number
  /** `Y.encodeSnapshotV2` of the parent epoch at the start: the old changes this epoch contains. */
  readonly base: Uint8Array
  /** V2 update of the fresh document (written by `epochClient(parent, 'init')`). */
  readonly initial: Uint8Array
  /** Where each piece of `initial` came from in the parent epoch (as `rebuildFresh` reports it). */
  readonly provenance: readonly ProvenanceRun[]
}

const RECORD_VERSION = 1
const ID_PATTERN = /^(0|[1-9][0-9]*)(-[0-9a-f]{16})?$/

/**
 * The id an epoch record must have (COMPACT-3.2): `"<seq>-<h>"` with `h` the first 16 hex digits of SHA-256 over
 * `parent`, `base` and `initial`, each length-prefixed (lib0 var-string / var-bytes) so no two inputs share a hash
 * input. Synchronous (lib0's SHA-256: `node:crypto` in Node, a JS implementation in browsers).
 */
export const epochRecordId = (parent: string, seq: number, base: Uint8Array, initial: Uint8Array): string => {
  const enc = encoding.createEncoder()
  encoding.writeVarString(enc, parent)
  encoding.writeVarUint8Array(enc, base)
  encoding.writeVarUint8Array(enc, initial)
  return `${seq}-${toHexString(digest(encoding.toUint8Array(enc))).slice(0, 16)}`
}

/** True when `record.id` is the hash of its content and `seq` follows its parent's (COMPACT-3.2). */
export const verifyEpochRecord = (record: EpochRecord): boolean => {
  const parentSeq = parseSeq(record.parent)
  return (
    parentSeq !== null &&
    parentSeq + 1 === record.seq &&
    record.id === epochRecordId(record.parent, record.seq, record.base, record.initial)
  )
}

/** `seq` of a well-formed id (`"0"`, or `"<seq>-<16 hex>"` with `seq >= 1`), else `null`. */
const parseSeq = (id: string): number | null => {
  const m = ID_PATTERN.exec(id)
  if (!m || (m[1] === '0') !== (m[2] === undefined)) return null
  return Number(m[1])
}

/** The `seq` of an epoch id (`"0"` → 0, `"3-…"` → 3). Throws `invalid-argument` on a malformed id. */
export const epochSeq = (id: string): number => {
  const seq = parseSeq(id)
  if (seq === null)
    throw new WeftError(WeftErrorCode.InvalidArgument, `malformed epoch id: ${JSON.stringify(id)}`)
  return seq
}

/**
 * Orders two epochs (COMPACT-4.1): negative when `a` wins, positive when `b` wins, 0 when they are the same epoch.
 * The higher `seq` wins; at equal `seq` the smaller id (string order) wins.
 */
export const compareEpochs = (a: string, b: string): number => {
  const d = epochSeq(b) - epochSeq(a)
  if (d !== 0) return d
  return a < b ? -1 : a > b ? 1 : 0
}

/** The winning epoch of two (COMPACT-4.1): every peer that has seen the same ids picks the same one. */
export const chooseEpoch = (a: string, b: string): string => (compareEpochs(a, b) <= 0 ? a : b)

/** Binary form of a record (for the `epoch-record` meta entry, base64, COMPACT-3.4, and for the wire). */
export const encodeEpochRecord = (record: EpochRecord): Uint8Array => {
  const enc = encoding.createEncoder()
  encoding.writeVarUint(enc, RECORD_VERSION)
  encoding.writeVarString(enc, record.id)
  encoding.writeVarString(enc, record.parent)
  encoding.writeVarUint(enc, record.seq)
  encoding.writeVarUint8Array(enc, record.base)
  encoding.writeVarUint8Array(enc, record.initial)
  encoding.writeVarUint(enc, record.provenance.length)
  for (const run of record.provenance) {
    encoding.writeVarUint(enc, run.newClock)
    encoding.writeVarUint(enc, run.length)
    encoding.writeVarUint(enc, run.oldClient)
    encoding.writeVarUint(enc, run.oldClock)
  }
  return encoding.toUint8Array(enc)
}

/** Result of {@link decodeEpochRecord}. */
export type DecodeEpochRecordResult =
  | { readonly ok: true; readonly record: EpochRecord }
  | { readonly ok: false; readonly reason: 'malformed' | 'unknown-version' | 'bad-id' }

/**
 * Decodes {@link encodeEpochRecord}'s output. Records come from peers and stores, so a record that does not decode,
 * or whose id is not the hash of its content ({@link verifyEpochRecord}), is an expected failure.
 */
export const decodeEpochRecord = (bytes: Uint8Array): DecodeEpochRecordResult => {
  let record: EpochRecord
  try {
    const dec = decoding.createDecoder(bytes)
    if (decoding.readVarUint(dec) !== RECORD_VERSION) return { ok: false, reason: 'unknown-version' }
    const id = decoding.readVarString(dec)
    const parent = decoding.readVarString(dec)
    const seq = decoding.readVarUint(dec)
    const base = decoding.readVarUint8Array(dec).slice()
    const initial = decoding.readVarUint8Array(dec).slice()
    const n = decoding.readVarUint(dec)
    if (n > bytes.length) return { ok: false, reason: 'malformed' }
    const provenance: ProvenanceRun[] = []
    for (let i = 0; i < n; i++) {
      const newClock = decoding.readVarUint(dec)
      const length = decoding.readVarUint(dec)
      const oldClient = decoding.readVarUint(dec)
      const oldClock = decoding.readVarUint(dec)
      provenance.push({ newClock, length, oldClient, oldClock })
    }
    if (decoding.hasContent(dec)) return { ok: false, reason: 'malformed' }
    record = { id, parent, seq, base, initial, provenance }
  } catch {
    return { ok: false, reason: 'malformed' }
  }
  return verifyEpochRecord(record) ? { ok: true, record } : { ok: false, reason: 'bad-id' }
}

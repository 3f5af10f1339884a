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

/** Version of the wire form ({@link encodeEpochRecord}): every version of Weft decodes it. */
const RECORD_VERSION = 1
/**
 * Version of the stored form ({@link encodeStoredEpochRecord}): provenance in columns, run-length encoded. Stores
 * only: a peer of an older version never receives it (offers carry the wire form).
 */
const STORED_RECORD_VERSION = 2
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

/** The fields every form starts with: version, id, parent, seq, base, initial. */
const writeHead = (enc: encoding.Encoder, version: number, record: EpochRecord): void => {
  encoding.writeVarUint(enc, version)
  encoding.writeVarString(enc, record.id)
  encoding.writeVarString(enc, record.parent)
  encoding.writeVarUint(enc, record.seq)
  encoding.writeVarUint8Array(enc, record.base)
  encoding.writeVarUint8Array(enc, record.initial)
}

/**
 * Wire form of a record (epoch offers, COMPACT-6.1; every version of Weft decodes it). Provenance is one run after
 * the other, four var-uints each. Stores keep the smaller {@link encodeStoredEpochRecord}.
 */
export const encodeEpochRecord = (record: EpochRecord): Uint8Array => {
  const enc = encoding.createEncoder()
  writeHead(enc, RECORD_VERSION, record)
  encoding.writeVarUint(enc, record.provenance.length)
  for (const run of record.provenance) {
    encoding.writeVarUint(enc, run.newClock)
    encoding.writeVarUint(enc, run.length)
    encoding.writeVarUint(enc, run.oldClient)
    encoding.writeVarUint(enc, run.oldClock)
  }
  return encoding.toUint8Array(enc)
}

/**
 * Stored form of a record (the `epoch-record` meta entry, COMPACT-3.4, COMPACT-3.5): the wire form's fields with
 * the provenance in four run-length encoded columns (the new clocks and old clocks as differences, the old clients
 * as indexes into a table), as Yjs's V2 encoding stores structs. Provenance is one run per shape property on a
 * whiteboard (mostly consecutive clocks from few clients): 3,655 runs take 37 KB in the wire form and a few hundred
 * bytes here. {@link decodeEpochRecord} reads both forms.
 */
export const encodeStoredEpochRecord = (record: EpochRecord): Uint8Array => {
  const enc = encoding.createEncoder()
  writeHead(enc, STORED_RECORD_VERSION, record)
  const clients: number[] = []
  const clientIndex = new Map<number, number>()
  const newClocks = new encoding.IntDiffOptRleEncoder()
  const lengths = new encoding.UintOptRleEncoder()
  const oldClients = new encoding.UintOptRleEncoder()
  const oldClocks = new encoding.IntDiffOptRleEncoder()
  for (const run of record.provenance) {
    let index = clientIndex.get(run.oldClient)
    if (index === undefined) {
      index = clients.length
      clients.push(run.oldClient)
      clientIndex.set(run.oldClient, index)
    }
    newClocks.write(run.newClock)
    lengths.write(run.length)
    oldClients.write(index)
    oldClocks.write(run.oldClock)
  }
  encoding.writeVarUint(enc, record.provenance.length)
  encoding.writeVarUint(enc, clients.length)
  for (const client of clients) encoding.writeVarUint(enc, client)
  for (const column of [newClocks, lengths, oldClients, oldClocks]) {
    encoding.writeVarUint8Array(enc, column.toUint8Array())
  }
  return encoding.toUint8Array(enc)
}

/** Result of {@link decodeEpochRecord}. */
export type DecodeEpochRecordResult =
  | { readonly ok: true; readonly record: EpochRecord }
  | { readonly ok: false; readonly reason: 'malformed' | 'unknown-version' | 'bad-id' }

/** Provenance of the wire form: `n` runs, four var-uints each. */
const readRuns = (dec: decoding.Decoder, n: number): ProvenanceRun[] => {
  const provenance: ProvenanceRun[] = []
  for (let i = 0; i < n; i++) {
    const newClock = decoding.readVarUint(dec)
    const length = decoding.readVarUint(dec)
    const oldClient = decoding.readVarUint(dec)
    const oldClock = decoding.readVarUint(dec)
    provenance.push({ newClock, length, oldClient, oldClock })
  }
  return provenance
}

/** Provenance of the stored form: a client table, then four columns (`null` when they do not hold `n` runs). */
const readColumns = (dec: decoding.Decoder, n: number, limit: number): ProvenanceRun[] | null => {
  const clientCount = decoding.readVarUint(dec)
  if (clientCount > limit) return null
  const clients: number[] = []
  for (let i = 0; i < clientCount; i++) clients.push(decoding.readVarUint(dec))
  const newClocks = new decoding.IntDiffOptRleDecoder(decoding.readVarUint8Array(dec))
  const lengths = new decoding.UintOptRleDecoder(decoding.readVarUint8Array(dec))
  const oldClients = new decoding.UintOptRleDecoder(decoding.readVarUint8Array(dec))
  const oldClocks = new decoding.IntDiffOptRleDecoder(decoding.readVarUint8Array(dec))
  const provenance: ProvenanceRun[] = []
  for (let i = 0; i < n; i++) {
    const newClock = newClocks.read()
    const length = lengths.read()
    const oldClient = clients[oldClients.read()]
    const oldClock = oldClocks.read()
    if (oldClient === undefined || newClock < 0 || oldClock < 0) return null
    provenance.push({ newClock, length, oldClient, oldClock })
  }
  return provenance
}

/**
 * Decodes a record in either form ({@link encodeEpochRecord}, {@link encodeStoredEpochRecord}). Records come from
 * peers and stores, so a record that does not decode, or whose id is not the hash of its content
 * ({@link verifyEpochRecord}), is an expected failure.
 */
export const decodeEpochRecord = (bytes: Uint8Array): DecodeEpochRecordResult => {
  let record: EpochRecord
  try {
    const dec = decoding.createDecoder(bytes)
    const version = decoding.readVarUint(dec)
    if (version !== RECORD_VERSION && version !== STORED_RECORD_VERSION)
      return { ok: false, reason: 'unknown-version' }
    const id = decoding.readVarString(dec)
    const parent = decoding.readVarString(dec)
    const seq = decoding.readVarUint(dec)
    const base = decoding.readVarUint8Array(dec).slice()
    const initial = decoding.readVarUint8Array(dec).slice()
    const n = decoding.readVarUint(dec)
    // A run takes at least one byte in the wire form; a column entry can take less, but not below 1/64 of one.
    if (n > bytes.length * (version === RECORD_VERSION ? 1 : 64)) return { ok: false, reason: 'malformed' }
    const provenance = version === RECORD_VERSION ? readRuns(dec, n) : readColumns(dec, n, bytes.length)
    if (provenance === null || decoding.hasContent(dec)) return { ok: false, reason: 'malformed' }
    record = { id, parent, seq, base, initial, provenance }
  } catch {
    return { ok: false, reason: 'malformed' }
  }
  return verifyEpochRecord(record) ? { ok: true, record } : { ok: false, reason: 'bad-id' }
}

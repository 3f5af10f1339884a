import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { digest as sha256 } from 'lib0/hash/sha256'
import { WeftError, WeftErrorCode } from '../WeftError.js'

/**
 * Range-based set reconciliation over a set of documents (docs/spec/workspaces.md, WS-DIGEST-*): two peers that
 * each hold many documents find which documents differ (missing on one side, or with another state vector) without
 * sending every state vector. Each document is reduced to a 16-byte item digest of its id and state vector; a range
 * of document ids is summarised by the sum of its items' digests (four 32-bit lanes, wrapping) and their count, so a
 * range's fingerprint costs two binary searches on precomputed prefix sums.
 *
 * One side {@link DocSetReconciler.initiate}s with the fingerprint of the whole set; each side answers a message
 * with {@link DocSetReconciler.receive}: an equal range is skipped, a different one is split into `buckets`
 * sub-ranges (by the answering side's own ids), and a range of at most `listThreshold` documents is sent as its list
 * of (id, digest). Two peers holding the same 10,000 documents exchange one fingerprint and an empty answer; one
 * differing document costs about `log_buckets(n)` rounds of `buckets` fingerprints. Both sides end with the same
 * {@link DocSetReconciler.differing} set, and then sync only those documents.
 *
 * The digests are not a security boundary: a peer can always withhold or misstate what it holds. They make honest
 * peers cheap.
 */

/** Bytes of one document's item digest. */
const DIGEST_BYTES = 16
/** Message format version (the first varUint of every message). */
const VERSION = 1
const Mode = { Skip: 0, Fingerprint: 1, List: 2, FinalList: 3 } as const

/** Limits a receiver enforces on a peer's message (a malformed or oversized one throws `malformed-message`). */
const MAX_RANGES = 1 << 16
const MAX_ID_BYTES = 4096

/** One document of a set: its id and its encoded state vector (`Y.encodeStateVector`). */
export interface DocSetEntry {
  readonly id: string
  readonly stateVector: Uint8Array
}

/** Options of {@link DocSetReconciler}. */
export interface DocSetReconcileOptions {
  /** Sub-ranges a differing range is split into (default 16, at least 2). */
  readonly buckets?: number
  /** A range of at most this many documents is sent as its list of ids and digests (default 32, at least 1). */
  readonly listThreshold?: number
}

const utf8 = new TextEncoder()

/** The 16-byte digest of one document: its id and its state vector, so two documents never share one by accident. */
export const docDigest = (id: string, stateVector: Uint8Array): Uint8Array => {
  const idBytes = utf8.encode(id)
  const input = new Uint8Array(idBytes.length + 1 + stateVector.length)
  input.set(idBytes, 0)
  input[idBytes.length] = 0
  input.set(stateVector, idBytes.length + 1)
  return sha256(input).subarray(0, DIGEST_BYTES)
}

/** A range's fingerprint: lane sums (wrapping) and the number of documents. */
interface Fingerprint {
  readonly lanes: Uint32Array
  readonly count: number
}

const sameFingerprint = (a: Fingerprint, b: Fingerprint): boolean =>
  a.count === b.count &&
  a.lanes[0] === b.lanes[0] &&
  a.lanes[1] === b.lanes[1] &&
  a.lanes[2] === b.lanes[2] &&
  a.lanes[3] === b.lanes[3]

/** A range's upper bound: a document id (exclusive), or `null` for the end of the key space. */
type Bound = string | null

/** One range of a message. `lower` is implied: the previous range's bound, or the empty id for the first. */
type Range =
  | { readonly mode: typeof Mode.Skip; readonly upper: Bound }
  | { readonly mode: typeof Mode.Fingerprint; readonly upper: Bound; readonly fingerprint: Fingerprint }
  | {
      readonly mode: typeof Mode.List | typeof Mode.FinalList
      readonly upper: Bound
      readonly items: ReadonlyArray<readonly [string, Uint8Array]>
    }

/**
 * A set of documents, sorted by id (JavaScript string order, the same on every peer), with the prefix sums of their
 * digests. Immutable: build a new one when the set changes.
 */
export class DocSet {
  readonly #ids: string[]
  readonly #digests: Uint8Array[]
  /** `(n + 1) * 4` lanes: prefix[i * 4 + l] = sum of lane l of digests [0, i). */
  readonly #prefix: Uint32Array

  constructor(entries: Iterable<DocSetEntry>) {
    const byId = new Map<string, Uint8Array>()
    for (const { id, stateVector } of entries) byId.set(id, docDigest(id, stateVector))
    this.#ids = [...byId.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    this.#digests = this.#ids.map((id) => byId.get(id)!)
    this.#prefix = new Uint32Array((this.#ids.length + 1) * 4)
    for (let i = 0; i < this.#digests.length; i++) {
      const d = this.#digests[i]!
      const view = new DataView(d.buffer, d.byteOffset, DIGEST_BYTES)
      for (let l = 0; l < 4; l++) {
        this.#prefix[(i + 1) * 4 + l] = (this.#prefix[i * 4 + l]! + view.getUint32(l * 4, true)) >>> 0
      }
    }
  }

  /** Number of documents in the set. */
  get size(): number {
    return this.#ids.length
  }

  /** Index of the first id `>= bound` (`size` for the end bound). */
  indexOf(bound: Bound): number {
    if (bound === null) return this.#ids.length
    let lo = 0
    let hi = this.#ids.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.#ids[mid]! < bound) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** The fingerprint of documents `[from, to)` (indices). */
  fingerprint(from: number, to: number): Fingerprint {
    const lanes = new Uint32Array(4)
    for (let l = 0; l < 4; l++) lanes[l] = (this.#prefix[to * 4 + l]! - this.#prefix[from * 4 + l]!) >>> 0
    return { lanes, count: to - from }
  }

  /** The id at index `i`. */
  idAt(i: number): string {
    return this.#ids[i]!
  }

  /** The items `[from, to)` as (id, digest) pairs. */
  items(from: number, to: number): Array<readonly [string, Uint8Array]> {
    const out: Array<readonly [string, Uint8Array]> = []
    for (let i = from; i < to; i++) out.push([this.#ids[i]!, this.#digests[i]!])
    return out
  }
}

/**
 * One side of a reconciliation over a {@link DocSet} (WS-DIGEST-1..5). Use one per exchange: the initiating side
 * calls {@link initiate} and sends its result; each side passes every message it receives to {@link receive} and
 * sends back what it returns until it returns `null` (the exchange is over for that side). Then
 * {@link differing} holds the ids of documents that are missing on either side or whose state vectors differ.
 */
export class DocSetReconciler {
  readonly #set: DocSet
  readonly #buckets: number
  readonly #listThreshold: number
  readonly #differing = new Set<string>()
  /** Messages received and sent, and their bytes (for progress and for measuring). */
  messages = 0
  bytes = 0

  constructor(set: DocSet, options: DocSetReconcileOptions = {}) {
    this.#set = set
    this.#buckets = Math.max(2, Math.floor(options.buckets ?? 16))
    this.#listThreshold = Math.max(1, Math.floor(options.listThreshold ?? 32))
  }

  /** Ids of documents found missing on one side or different on both (WS-DIGEST-3). */
  get differing(): ReadonlySet<string> {
    return this.#differing
  }

  /** The first message: the fingerprint of the whole set (WS-DIGEST-2). */
  initiate(): Uint8Array {
    const ranges: Range[] =
      this.#set.size <= this.#listThreshold
        ? [{ mode: Mode.List, upper: null, items: this.#set.items(0, this.#set.size) }]
        : [{ mode: Mode.Fingerprint, upper: null, fingerprint: this.#set.fingerprint(0, this.#set.size) }]
    return this.#count(encodeRanges(ranges))
  }

  /**
   * Handles a peer's message and returns the answer to send, or `null` when nothing needs answering (every range
   * agreed or was settled). Throws a `malformed-message` WeftError for bytes that are not a valid message; nothing
   * is changed then.
   */
  receive(message: Uint8Array): Uint8Array | null {
    const ranges = decodeRanges(message)
    this.messages++
    this.bytes += message.byteLength
    const out: Range[] = []
    const skip = (upper: Bound): void => {
      const last = out[out.length - 1]
      if (last?.mode === Mode.Skip) out[out.length - 1] = { mode: Mode.Skip, upper }
      else out.push({ mode: Mode.Skip, upper })
    }
    let lower = 0
    for (const range of ranges) {
      const upper = this.#set.indexOf(range.upper)
      const from = lower
      lower = Math.max(lower, upper)
      if (range.mode === Mode.Skip) {
        skip(range.upper)
      } else if (range.mode === Mode.Fingerprint) {
        if (sameFingerprint(range.fingerprint, this.#set.fingerprint(from, upper))) skip(range.upper)
        else this.#split(from, upper, range.upper, out)
      } else {
        this.#compare(range.items, this.#set.items(from, upper))
        if (range.mode === Mode.List)
          out.push({ mode: Mode.FinalList, upper: range.upper, items: this.#set.items(from, upper) })
        else skip(range.upper)
      }
    }
    if (out.every((r) => r.mode === Mode.Skip)) return null
    while (out[out.length - 1]?.mode === Mode.Skip) out.pop()
    return this.#count(encodeRanges(out))
  }

  #count(message: Uint8Array): Uint8Array {
    this.messages++
    this.bytes += message.byteLength
    return message
  }

  /** A differing range `[from, to)` ending at `upper`: its list when small, else `buckets` fingerprinted sub-ranges. */
  #split(from: number, to: number, upper: Bound, out: Range[]): void {
    const n = to - from
    if (n <= this.#listThreshold) {
      out.push({ mode: Mode.List, upper, items: this.#set.items(from, to) })
      return
    }
    const size = Math.ceil(n / this.#buckets)
    for (let start = from; start < to; start += size) {
      const end = Math.min(to, start + size)
      const bound = end === to ? upper : this.#set.idAt(end)
      out.push({ mode: Mode.Fingerprint, upper: bound, fingerprint: this.#set.fingerprint(start, end) })
    }
  }

  /** Records every id present on one side only, or with different digests (WS-DIGEST-3). */
  #compare(
    theirs: ReadonlyArray<readonly [string, Uint8Array]>,
    ours: ReadonlyArray<readonly [string, Uint8Array]>,
  ): void {
    const mine = new Map(ours.map(([id, d]) => [id, d]))
    for (const [id, d] of theirs) {
      const own = mine.get(id)
      if (own === undefined || !equalBytes(own, d)) this.#differing.add(id)
      mine.delete(id)
    }
    for (const id of mine.keys()) this.#differing.add(id)
  }
}

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

const encodeRanges = (ranges: readonly Range[]): Uint8Array => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, VERSION)
  encoding.writeVarUint(e, ranges.length)
  for (const range of ranges) {
    encoding.writeVarUint(e, range.mode)
    if (range.upper === null) encoding.writeVarUint(e, 0)
    else {
      encoding.writeVarUint(e, 1)
      encoding.writeVarString(e, range.upper)
    }
    if (range.mode === Mode.Fingerprint) {
      encoding.writeUint8Array(e, new Uint8Array(range.fingerprint.lanes.buffer, 0, DIGEST_BYTES))
      encoding.writeVarUint(e, range.fingerprint.count)
    } else if (range.mode === Mode.List || range.mode === Mode.FinalList) {
      encoding.writeVarUint(e, range.items.length)
      for (const [id, d] of range.items) {
        encoding.writeVarString(e, id)
        encoding.writeUint8Array(e, d)
      }
    }
  }
  return encoding.toUint8Array(e)
}

const malformed = (why: string): WeftError =>
  new WeftError(WeftErrorCode.MalformedMessage, `document set reconciliation: ${why}`)

const readId = (d: decoding.Decoder): string => {
  const id = decoding.readVarString(d)
  if (id.length > MAX_ID_BYTES) throw malformed('a document id is too long')
  return id
}

/**
 * Decodes a message (WS-DIGEST-4): bounds strictly increase, only the last range may be unbounded, and what follows
 * the last bounded range is skipped.
 */
const decodeRanges = (message: Uint8Array): Range[] => {
  try {
    const d = decoding.createDecoder(message)
    if (decoding.readVarUint(d) !== VERSION) throw malformed('unknown version')
    const count = decoding.readVarUint(d)
    if (count > MAX_RANGES) throw malformed('too many ranges')
    const ranges: Range[] = []
    let previous: string | null = ''
    for (let i = 0; i < count; i++) {
      if (previous === null) throw malformed('a range follows the unbounded one')
      const mode = decoding.readVarUint(d)
      const bounded = decoding.readVarUint(d)
      if (bounded > 1) throw malformed('bad bound flag')
      const upper: Bound = bounded === 1 ? readId(d) : null
      if (upper !== null && i > 0 && upper <= previous) throw malformed('range bounds are not increasing')
      if (mode === Mode.Skip) ranges.push({ mode, upper })
      else if (mode === Mode.Fingerprint) {
        const lanes = new Uint32Array(decoding.readUint8Array(d, DIGEST_BYTES).slice().buffer)
        ranges.push({ mode, upper, fingerprint: { lanes, count: decoding.readVarUint(d) } })
      } else if (mode === Mode.List || mode === Mode.FinalList) {
        const n = decoding.readVarUint(d)
        if (n > message.length) throw malformed('list longer than the message')
        const items: Array<readonly [string, Uint8Array]> = []
        for (let k = 0; k < n; k++) items.push([readId(d), decoding.readUint8Array(d, DIGEST_BYTES).slice()])
        ranges.push({ mode, upper, items })
      } else throw malformed(`unknown range mode ${mode}`)
      previous = upper
    }
    if (decoding.hasContent(d)) throw malformed('trailing bytes')
    return ranges
  } catch (error) {
    if (error instanceof WeftError) throw error
    throw malformed('truncated message')
  }
}

import * as Y from 'yjs'
import { EMPTY_UPDATE, isEmptyUpdate, mergeUpdatesBatched } from './mergeUpdatesBatched.js'
import { stateVectorOfParts } from './stateVectorOfParts.js'

/** How many answers to distinct state vectors are kept per document state. */
const DIFF_CACHE_SIZE = 8
/**
 * Parts past which the log merges everything after its base even without a reader: a bound for parts the levels
 * below do not cover (a log loaded with more stored parts than this).
 */
const MAX_PARTS = 512
/**
 * Merging without a reader (no joiner, no compaction: a room's steady editing). Appended updates are held as they
 * are until `FIRST_MERGE` of them are held after the base; the update that completes the group is merged with them
 * (in batches of `MERGE_FAN`: `Y.mergeUpdates` is superlinear in its inputs) into one part of level 1, and
 * `MERGE_FAN` parts of one level into one of the next. The first merge comes when it always came (the 257th part), but
 * an earlier merge is not merged again with every later group: the policy before merged everything after the base,
 * earlier merges included, every 255 updates, so an append cost more the longer a room ran without a reader
 * (`npm run bench -- updateLog`; docs/architecture.md, "Relay CPU per update", fifth pass).
 */
const FIRST_MERGE = 256
/** The fan-in of merges past the first level, and the batch size of the first merge. */
const MERGE_FAN = 16
/** The level of a part the fan-in rule never merges: the base, parts loaded or rebased, the bound's merge. */
const UNLEVELLED = -1
/**
 * A tail of at most this many updates and bytes since the last merge is served as it is (RELAY-2.3): joiners get
 * it as one sync update before the step 2 of the merged base, and the state vector is advanced through it, instead of
 * merging the whole state again for every join after every edit.
 */
const SMALL_TAIL_PARTS = 16
const SMALL_TAIL_BYTES = 64 * 1024

/** The updates merged (in batches), or `null` when Yjs refuses to merge them. */
const mergeOrNull = (parts: readonly Uint8Array[], batchSize?: number): Uint8Array | null => {
  try {
    return mergeUpdatesBatched(parts, batchSize)
  } catch {
    return null
  }
}

/** Encodes one answer message (`M`: as the log's owner sends it): the `diff` as a sync step 2 or a sync update. */
export type AnswerEncoder<M = Uint8Array> = (diff: Uint8Array, kind: 'step2' | 'update') => M

/**
 * A document's state held as encoded Yjs updates instead of a live Y.Doc: the relay forwards and stores updates
 * without applying them. The merged state, its state vector and the answers to recent state vectors (a join storm
 * of fresh clients all ask with the same empty one) are cached until the next update. `M`: the answer messages'
 * type (the relay's `SharedMessage`, so a cached answer is framed once for every joiner).
 */
export class UpdateLog<M = Uint8Array> {
  #partsHeld: Uint8Array[] = []
  /** The level of each part (`#parts[i]`), see `FIRST_MERGE`. */
  #levels: number[] = []
  /** How many of the newest parts are updates held as appended (level 0) after the base: read on every append. */
  #level0Run = 0
  /** Parts after the base, counted as held before the fan-in rule merged them (the small tail counts updates). */
  #tailUpdates = 0
  /** Sum of the parts' bytes, kept with them: {@link UpdateLog.byteLength} is read on every update (RELAY-9.4). */
  #bytes = 0
  #stateVector: Uint8Array | null = null
  /** The state vector of `#parts[0]` once it is a merged state whose state vector was computed. */
  #baseStateVector: Map<number, number> | null = null
  readonly #answers = new Map<string, readonly M[]>()
  /**
   * What a peer holding the whole merged base lacks of it: no struct, the base's delete set (RELAY-2.3), computed once
   * per base (`part`: the base it was computed from), so that answering such peers after each append decodes the tail
   * only, not the base.
   */
  #baseDeletions: { readonly part: Uint8Array; readonly update: Uint8Array } | null = null
  /** Updates appended since {@link UpdateLog.mark}, or `null` without a mark. */
  #sinceMark: Uint8Array[] | null = null
  /**
   * Counts changes of what the log holds (an update taken or refused, a rebase onto other content, parts dropped by a
   * salvage), so that a copy of the state built from it (the rules' view, RULES-4.6) knows whether it still matches.
   * Merging the parts into one, or a rebase onto the same content (a compaction's rebuild, RULES-4.10), does not count.
   */
  changes = 0

  /**
   * `stateVector`: the state vector of `parts` merged, when it is known already (a load computed it in the compaction
   * worker, RELAY-3.11): then the log does not merge or decode its state to announce it.
   */
  constructor(parts: readonly Uint8Array[], stateVector: Uint8Array | null = null) {
    this.#parts = [...parts]
    if (stateVector && parts.length === 1) {
      this.#stateVector = stateVector
      this.#baseStateVector = Y.decodeStateVector(stateVector)
    }
  }

  get #parts(): Uint8Array[] {
    return this.#partsHeld
  }

  /**
   * Every replacement of the parts goes through here, so that their byte count stays exact; the parts set here are
   * unlevelled (the fan-in rule leaves them alone).
   */
  set #parts(parts: Uint8Array[]) {
    let n = 0
    for (const p of parts) n += p.byteLength
    this.#partsHeld = parts
    this.#bytes = n
    this.#levels = parts.map(() => UNLEVELLED)
    this.#tailUpdates = Math.max(0, parts.length - 1)
    this.#level0Run = 0
  }

  /** Replaces the newest `count` parts by `part` of level `level` (the fan-in rule's merges). */
  #replaceNewest(count: number, part: Uint8Array, level: number): void {
    const parts = this.#partsHeld
    for (let i = parts.length - count; i < parts.length; i++)
      this.#bytes -= (parts[i] as Uint8Array).byteLength
    parts.length -= count
    this.#levels.length -= count
    parts.push(part)
    this.#levels.push(level)
    this.#bytes += part.byteLength
    this.#level0Run = 0
  }

  /** Whether the `count` newest parts are all after the base and of level `level`. */
  #newestOfLevel(count: number, level: number): boolean {
    const levels = this.#levels
    const n = levels.length
    if (n - count < 1) return false
    for (let i = n - count; i < n; i++) if (levels[i] !== level) return false
    return true
  }

  /** Bytes held (sum of the unmerged parts). */
  get byteLength(): number {
    return this.#bytes
  }

  /** The parts held, unmerged: a rebuild in another thread merges them there (RELAY-3.8). */
  parts(): readonly Uint8Array[] {
    return [...this.#parts]
  }

  /**
   * Takes an update that was validated (it decodes, SYNC-3.5), unless Yjs cannot merge it (RELAY-9.1): then the log
   * is left as it was and `false` is returned, so the caller neither stores nor forwards it. The merges that bound
   * the number of parts (`FIRST_MERGE`, `MERGE_FAN`, then `MAX_PARTS`) are where a merge happens, and so where a refusal can:
   * the update completing a group is merged with it before it is held.
   */
  append(update: Uint8Array): boolean {
    if (this.#parts.length >= MAX_PARTS) {
      // The bound: everything after the base merged with the update (parts loaded from the store are unlevelled).
      const [base, ...tail] = this.#parts
      const merged = this.#mergeTaking(tail, update)
      if (merged === null) return false
      this.#parts = [base as Uint8Array, merged]
    } else if (this.#level0Run >= FIRST_MERGE - 1) {
      // The update completes the first group: merged with it before it is held, so that a refusal refuses it.
      const held = this.#partsHeld.slice(this.#partsHeld.length - (FIRST_MERGE - 1))
      const merged = this.#mergeTaking(held, update)
      if (merged === null) return false
      this.#replaceNewest(FIRST_MERGE - 1, merged, 1)
      this.#mergeLevels()
    } else {
      this.#partsHeld.push(update)
      this.#levels.push(0)
      this.#bytes += update.byteLength
      if (this.#partsHeld.length > 1) this.#level0Run++
    }
    if (this.#partsHeld.length > 1) this.#tailUpdates++
    this.#sinceMark?.push(update)
    this.#changed()
    return true
  }

  /** Merges groups of `MERGE_FAN` parts of one level (1 or more) into one of the next, while there are any. */
  #mergeLevels(): void {
    for (;;) {
      const level = this.#levels[this.#levels.length - 1] ?? UNLEVELLED
      if (level < 1 || !this.#newestOfLevel(MERGE_FAN, level)) return
      const group = this.#partsHeld.slice(this.#partsHeld.length - MERGE_FAN)
      // Each part merged once already; should Yjs still refuse the group, its bad parts are dropped (RELAY-9.1).
      this.#replaceNewest(MERGE_FAN, mergeOrNull(group) ?? this.#salvage(group), level + 1)
    }
  }

  /**
   * `held` (parts the log took) merged with `update`, or `null` when Yjs refuses the update: then `held` is replaced
   * by its merge (salvaged part by part should it not merge alone), the log counts a change, and the update is not
   * taken (RELAY-9.1). The caller puts the merge where `held` was.
   */
  #mergeTaking(held: readonly Uint8Array[], update: Uint8Array): Uint8Array | null {
    const merged = mergeOrNull([...held, update], MERGE_FAN)
    if (merged !== null) return merged
    const heldMerged = mergeOrNull(held, MERGE_FAN)
    // Never with validated updates: `held` itself does not merge. It is salvaged part by part (the parts Yjs refuses
    // are dropped and counted), and the update judged on its own.
    const rest = heldMerged ?? this.#salvage(held)
    const retried = heldMerged === null ? mergeOrNull([rest, update]) : null
    if (retried !== null) return retried
    this.#replaceNewest(held.length, rest, UNLEVELLED)
    this.#changed()
    return null
  }

  #changed(): void {
    this.changes++
    this.#invalidate()
  }

  /** Drops what was computed from the parts (their state vector, the answers to joiners). */
  #invalidate(): void {
    this.#stateVector = null
    // Only when there is something to clear: `Map.clear` allocates a new table even for an empty map, and this runs
    // on every append (0.8-1.4% of the relay's busy time in the light fan-out's profile, where nobody asks).
    if (this.#answers.size > 0) this.#answers.clear()
  }

  /**
   * The whole state as one update (merged on demand, then cached). Should Yjs refuse to merge the parts (a crafted
   * update that decodes but is inconsistent), the parts are merged one by one and those it refuses are dropped and
   * counted in {@link UpdateLog.dropped}, instead of making the document unusable.
   */
  state(): Uint8Array {
    if (this.#parts.length !== 1) {
      this.#baseStateVector = null
      this.#parts = [mergeOrNull(this.#parts) ?? this.#salvage(this.#parts)]
    }
    return this.#parts[0] as Uint8Array
  }

  /**
   * Starts recording appends, so that the state can later be replaced by an equivalent one computed from what the
   * log held at this point (a garbage-collected snapshot, or the store's compacted state) without losing what
   * arrived meanwhile. One mark at a time; marking again restarts the recording.
   */
  mark(): void {
    this.#sinceMark = []
  }

  /** Stops recording (the replacement was abandoned). */
  unmark(): void {
    this.#sinceMark = null
  }

  /**
   * Replaces everything held up to the {@link UpdateLog.mark} by `base` (which must contain at least that state),
   * keeping the updates appended since. Without a mark, replaces the whole state. `content`: `'same'` when `base` holds
   * exactly what it replaces, re-encoded (a garbage-collecting rebuild of it): not counted in
   * {@link UpdateLog.changes}, so copies built from the log stay valid (RULES-4.10); `'changed'` otherwise (a state
   * loaded from elsewhere, an epoch switch).
   */
  rebase(base: readonly Uint8Array[], content: 'same' | 'changed'): void {
    this.#parts = [...base, ...(this.#sinceMark ?? [])]
    this.#sinceMark = null
    this.#baseStateVector = null
    if (content === 'changed') this.changes++
    this.#invalidate()
  }

  /** Parts dropped because Yjs could not merge them. */
  dropped = 0

  #salvage(parts: readonly Uint8Array[]): Uint8Array {
    let acc = EMPTY_UPDATE
    for (const part of parts) {
      try {
        const next = Y.mergeUpdates([acc, part])
        Y.encodeStateVectorFromUpdate(next)
        acc = next
      } catch {
        this.dropped++
        this.changes++
      }
    }
    return acc
  }

  /** Whether the parts after the first are few and small enough to be served as they are. */
  #smallTail(): boolean {
    const tail = this.#tailUpdates
    if (this.#parts.length < 2 || tail > SMALL_TAIL_PARTS) return false
    let bytes = 0
    for (let i = 1; i < this.#parts.length; i++) bytes += (this.#parts[i] as Uint8Array).byteLength
    return bytes <= SMALL_TAIL_BYTES
  }

  /**
   * RELAY-3.7: whether a peer with state vector `sv` lacks nothing of the merged base, only (some of) a small tail
   * (RELAY-2.3) or nothing at all: then its answer is the tail's updates (if any) and the base's delete set, which a
   * rebuild of the state could shrink by at most the tail's deleted content. `false` when the base's state vector is
   * not known yet (a state rebased and not announced since) or the tail is not small: nothing is merged or decoded to
   * find out, beyond `sv`.
   */
  lacksOnlyTail(sv: Uint8Array): boolean {
    return (this.#parts.length === 1 || this.#smallTail()) && this.#holdsBase(sv)
  }

  /** Whether `sv` covers the merged base's state vector (known: see {@link UpdateLog.lacksOnlyTail}). */
  #holdsBase(sv: Uint8Array): boolean {
    const base = this.#baseStateVector
    if (!base) return false
    let held: Map<number, number>
    try {
      held = Y.decodeStateVector(sv)
    } catch {
      return false
    }
    for (const [client, clock] of base) if ((held.get(client) ?? 0) < clock) return false
    return true
  }

  /**
   * `base` (the merged base, whose state vector is known) as a peer holding all of it lacks it: its delete set, as
   * `Y.diffUpdate` gives it for any state vector that covers the base's (the same bytes), kept until the base changes.
   */
  #deletionsOf(base: Uint8Array): Uint8Array {
    const cached = this.#baseDeletions
    if (cached?.part === base) return cached.update
    const sv = this.#baseStateVector as Map<number, number>
    const update = Y.diffUpdate(base, Y.encodeStateVector(sv))
    this.#baseDeletions = { part: base, update }
    return update
  }

  /**
   * The state vector of {@link UpdateLog.state}: after a small tail, the merged base's advanced through the tail
   * (never more than the merged state's, see `stateVectorOfParts`); otherwise computed from the merged state.
   */
  stateVector(): Uint8Array {
    if (this.#stateVector) return this.#stateVector
    if (this.#baseStateVector && this.#smallTail()) {
      try {
        this.#stateVector = Y.encodeStateVector(
          stateVectorOfParts(this.#baseStateVector, this.#parts.slice(1)),
        )
        return this.#stateVector
      } catch {
        // A tail update Yjs cannot decode: the merge below salvages.
      }
    }
    try {
      this.#stateVector = Y.encodeStateVectorFromUpdate(this.state())
    } catch {
      this.#parts = [this.#salvage(this.#parts)]
      this.#stateVector = Y.encodeStateVectorFromUpdate(this.state())
    }
    this.#baseStateVector = Y.decodeStateVector(this.#stateVector)
    return this.#stateVector
  }

  /**
   * What a peer with state vector `sv` lacks, as messages built by `encode` (framed sync messages), cached per state
   * vector until the next append. After a small tail (RELAY-2.3) that is the tail's updates merged into one sync
   * update, then the rest as the sync step 2; otherwise one sync step 2 from the merged state. `sv` must be validated.
   */
  answer(sv: Uint8Array, encode: AnswerEncoder<M>): readonly M[] {
    const key = Buffer.from(sv.buffer, sv.byteOffset, sv.byteLength).toString('base64')
    const cached = this.#answers.get(key)
    if (cached) return cached
    const empty = Y.decodeStateVector(sv).size === 0
    const diffOf = (update: Uint8Array) => (empty ? update : Y.diffUpdate(update, sv))
    let messages: M[] | null = null
    const base = this.#parts[0]
    if (base && this.#parts.length === 1 && this.#holdsBase(sv)) {
      // A peer holding the whole state (a replica that is up to date): the base's delete set, kept per base. Should
      // Yjs refuse the base, the merged path below salvages it.
      try {
        messages = [encode(this.#deletionsOf(base), 'step2')]
      } catch {
        messages = null
      }
    } else if (base && this.#smallTail()) {
      try {
        messages = []
        // The tail merged into one update (cheap at this size): one message for the client to apply, not 16.
        const tail = diffOf(Y.mergeUpdates(this.#parts.slice(1)))
        if (!isEmptyUpdate(tail)) messages.push(encode(tail, 'update'))
        messages.push(encode(this.#holdsBase(sv) ? this.#deletionsOf(base) : diffOf(base), 'step2'))
      } catch {
        messages = null
      }
    }
    if (!messages) {
      let diff: Uint8Array
      try {
        diff = diffOf(this.state())
      } catch {
        this.#parts = [this.#salvage(this.#parts)]
        this.#stateVector = null
        diff = diffOf(this.state())
      }
      messages = [encode(diff, 'step2')]
    }
    if (this.#answers.size >= DIFF_CACHE_SIZE) {
      const oldest = this.#answers.keys().next().value
      if (oldest !== undefined) this.#answers.delete(oldest)
    }
    this.#answers.set(key, messages)
    return messages
  }
}

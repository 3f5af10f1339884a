import {
  AwarenessUpdateReader,
  decodeAwarenessState,
  encodeAwarenessEntries as encodeEntries,
  isRemovedAwarenessState,
  readEncodedAwarenessEntries,
  MessageType,
  type EncodedAwarenessEntry,
} from '@weft/core/protocol'
import { PresenceTicker } from './PresenceTicker.js'
import { scanAwarenessState } from './scanAwarenessState.js'
import { SharedMessage } from './SharedMessage.js'

interface Entry {
  clock: number
  /**
   * The state's JSON text as it arrived (its UTF-8 bytes, copied out of the message into a one-byte string: a few
   * bytes of overhead instead of a typed array, its buffer and its backing store per client); `null` once removed.
   */
  state: string | null
  /**
   * The connection that introduced this client. Later states of the client may arrive over other connections too
   * (stock y-websocket clients echo every awareness change they receive; Weft peers forward the presence of the
   * peers they bridge): those do not take the client over.
   */
  owner: object
}

const utf8 = new TextEncoder()

/**
 * Whether a news entry's `state` removes its client (its JSON is `null`). Checked in one pass over the bytes
 * ({@link scanAwarenessState}: no string, no value built); what that pass is not sure of goes through the checked
 * decoding, which throws a `malformed-message` WeftError for a state that is not JSON (RELAY-6.4).
 */
const removes = (state: Uint8Array): boolean => {
  if (isRemovedAwarenessState(state)) return true
  const scan = scanAwarenessState(state)
  if (scan !== 'unsure') return scan === 'null'
  return decodeAwarenessState(state) === null
}

/** Keeps `bytes` as a one-byte string (one character per byte; see `Entry.state`). */
const hold = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')

/** The bytes of a state kept by {@link hold}. */
const bytesOfHeld = (state: string): Uint8Array => Buffer.from(state, 'latin1')

/** Bytes of `n` as lib0 writes a varUint (7 bits per byte). */
const varUintLength = (n: number): number => {
  let length = 1
  while (n > 0x7f) {
    n = Math.floor(n / 128)
    length++
  }
  return length
}

/** Writes `n` as a varUint into `out` at `at`; returns the position after it. */
const writeVarUint = (out: Uint8Array, at: number, n: number): number => {
  while (n > 0x7f) {
    out[at++] = (n % 128) | 0x80
    n = Math.floor(n / 128)
  }
  out[at++] = n
  return at
}

/**
 * The update of a window's held news (y-protocols awareness format, the latest entry per client), written into one
 * array of the exact size: no encoder, no growing buffer, one copy of each state.
 */
const encodeHeld = (held: ReadonlyMap<number, EncodedAwarenessEntry>): Uint8Array => {
  let length = varUintLength(held.size)
  for (const e of held.values())
    length +=
      varUintLength(e.clientID) +
      varUintLength(e.clock) +
      varUintLength(e.state.byteLength) +
      e.state.byteLength
  const out = new Uint8Array(length)
  let at = writeVarUint(out, 0, held.size)
  for (const e of held.values()) {
    at = writeVarUint(out, at, e.clientID)
    at = writeVarUint(out, at, e.clock)
    at = writeVarUint(out, at, e.state.byteLength)
    out.set(e.state, at)
    at += e.state.byteLength
  }
  return out
}

/**
 * `update` as an awareness message (y-websocket's message type 1), given as parts so that it is copied once, into
 * the frame every connection of the room is sent ({@link SharedMessage}): the message type and the update's length,
 * then the update itself.
 */
export const awarenessMessage = (update: Uint8Array): SharedMessage => {
  const head = new Uint8Array(1 + varUintLength(update.byteLength))
  writeVarUint(head, writeVarUint(head, 0, MessageType.Awareness), update.byteLength)
  return new SharedMessage([head, update])
}

/**
 * Encodes awareness entries given as `[clientID, clock, JSON text]` in the y-protocols awareness update format (for
 * tests and tools; the relay itself keeps states encoded: `encodeAwarenessEntries` of `@weft/core`).
 */
export const encodeAwarenessEntries = (
  entries: ReadonlyArray<readonly [number, number, string]>,
): Uint8Array =>
  encodeEntries(entries.map(([clientID, clock, json]) => ({ clientID, clock, state: utf8.encode(json) })))

/** Bounds of one room's presence (RELAY-6.5). */
export interface PresenceLimits {
  /**
   * Client ids one connection may introduce. A stock client has one; a Weft peer also brings the peers it bridges
   * (WebRTC, LAN) that have no connection of their own. More closes the connection.
   */
  readonly maxClientsPerConnection: number
  /** Client ids in one room. An update that would add more is dropped (not stored, not forwarded). */
  readonly maxClientsPerRoom: number
  /**
   * Bytes of presence state in one room (the JSON text of every present client); bounds what a query-awareness
   * or a join is answered with. An update that would grow the room past it is dropped.
   */
  readonly maxBytesPerRoom: number
  /**
   * Bytes of presence state the clients one connection introduced may hold together: a share of the room's bytes, so
   * that one connection cannot fill the room and keep everyone else's presence out. An update past it is dropped.
   */
  readonly maxBytesPerConnection: number
  /**
   * News sent to a room within this many milliseconds of the previous send is held until then and sent with what
   * else arrived meanwhile, as one update (the latest state per client): one write per connection instead of one
   * per change. An update to a quiet room goes out at once. 0 sends every change at once. This is the window of a
   * small room; a larger one waits longer (`writesPerSecond`, `maxCoalesceMs`, RELAY-6.7).
   */
  readonly coalesceMs: number
  /**
   * What a busy room's presence may cost the server, in writes per second (one write: one update to one
   * connection). A room's window is its connections × 1000 / `writesPerSecond` ms, never under `coalesceMs` nor
   * over `maxCoalesceMs`: at the default 80, rooms of up to 8 connections keep 100 ms, 20 connections wait 250 ms
   * (RELAY-6.7). Only news that follows another send within the window waits; a quiet room's goes out at once.
   */
  readonly writesPerSecond: number
  /**
   * The longest window, whatever the room's size: the most a presence change waits (RELAY-6.7). At or below
   * `coalesceMs`, every room uses `coalesceMs`.
   */
  readonly maxCoalesceMs: number
}

/** Default {@link PresenceLimits}. */
export const DEFAULT_PRESENCE_LIMITS: PresenceLimits = Object.freeze({
  maxClientsPerConnection: 32,
  maxClientsPerRoom: 1024,
  maxBytesPerRoom: 1024 * 1024,
  maxBytesPerConnection: 64 * 1024,
  coalesceMs: 100,
  writesPerSecond: 80,
  maxCoalesceMs: 250,
})

/**
 * The coalescing window of a room with `connections` connections under `limits` (RELAY-6.7): `connections` × 1000 /
 * `writesPerSecond` ms, clamped to [`coalesceMs`, `maxCoalesceMs`]; `coalesceMs` when that is 0 or less (no
 * coalescing) or `maxCoalesceMs` is not above it.
 */
export const presenceWindowMs = (
  limits: Pick<PresenceLimits, 'coalesceMs' | 'writesPerSecond' | 'maxCoalesceMs'>,
  connections: number,
): number => {
  const { coalesceMs, writesPerSecond, maxCoalesceMs } = limits
  if (coalesceMs <= 0 || maxCoalesceMs <= coalesceMs || !(writesPerSecond > 0)) return coalesceMs
  return Math.min(maxCoalesceMs, Math.max(coalesceMs, Math.ceil((connections * 1000) / writesPerSecond)))
}

/** Why {@link AwarenessTable.apply} refused an update. */
export type PresenceRefusal = 'too-many-clients-per-connection' | 'connection-full' | 'room-full'

/** Outcome of {@link AwarenessTable.apply}. */
export type PresenceApplied =
  /** `news`: the entries that changed something, as an update to broadcast (the update itself if all did), or `null`. */
  | { readonly ok: true; readonly news: Uint8Array | null }
  | { readonly ok: false; readonly reason: PresenceRefusal }

const NO_NEWS: PresenceApplied = Object.freeze({ ok: true, news: null })

/**
 * The presence states of one relay room, kept without a Y.Doc or an Awareness instance: which client ids are
 * present, their latest clock and state, and which connection introduced them, so that a client is removed when
 * that connection closes. The removal keeps the client's clock (state null), as y-protocols'
 * `removeAwarenessStates` does for remote clients, so that the client's next state (at a higher clock) is accepted
 * at once when it comes back (RELAY-6.3, SYNC-6.3).
 *
 * Cheap per update (RELAY-6.4): an entry that carries no news (same client, same clock: the echo a stock client
 * sends of every change it receives) is dropped after reading its client id and clock; states are kept as the bytes
 * they arrived in (checked once to be JSON, in one pass over the bytes that builds nothing; never re-serialised);
 * the per-connection and per-room counts are kept up to date rather than counted by scanning the table.
 */
export class AwarenessTable {
  readonly #entries = new Map<number, Entry>()
  /**
   * Client ids each connection introduced (present or removed): the id itself for the usual one (a stock client has
   * one), a set once there are more.
   */
  readonly #owned = new Map<object, number | Set<number>>()
  readonly #limits: PresenceLimits
  #present = 0
  #bytes = 0
  /** {@link encodeAll}'s answer until the table changes. */
  #all: Uint8Array | null = null
  /** News held by {@link broadcast} until the window ends, by client id (created once, emptied at each send). */
  readonly #pending = new Map<number, EncodedAwarenessEntry>()
  /** Where the windows end: the relay's presence ticks, shared by its rooms (RELAY-6.8). */
  readonly #ticker: PresenceTicker
  /** Whether a window is open (its end scheduled and not come yet). */
  #windowOpen = false
  /** Where the held news goes when the window ends: the `send` of the last {@link broadcast}. */
  #send: ((update: Uint8Array) => void) | null = null
  /** Where {@link broadcast} sends when it is given no `send`: the room's connections. */
  readonly #roomSend: ((update: Uint8Array) => void) | null
  /** Reads every update {@link apply} is given (one reader per room: nothing allocated per entry read). */
  readonly #reader = new AwarenessUpdateReader()
  /** The last news {@link apply} returned, with its entries, so that {@link broadcast} need not read it again. */
  #lastNews: Uint8Array | null = null
  #lastEntries: readonly EncodedAwarenessEntry[] = []
  #stale = 0

  readonly #connections: () => number

  /**
   * `connections`: how many connections the room's broadcasts reach now (its members), read each time a window
   * starts, so that a busy room's window follows its size (RELAY-6.7). Without it, every window is `coalesceMs`.
   * `send`: where {@link broadcast} sends an update when it is given none (the room's connections, as one
   * {@link awarenessMessage}); fixed once per room, so that nothing is created per awareness message.
   * `ticker`: where windows end (RELAY-6.8), the relay's, shared by its rooms; without it, one of the table's own.
   */
  constructor(
    limits: Partial<PresenceLimits> = {},
    connections: () => number = () => 0,
    send?: (update: Uint8Array) => void,
    ticker: PresenceTicker = new PresenceTicker(),
  ) {
    this.#limits = { ...DEFAULT_PRESENCE_LIMITS, ...limits }
    this.#connections = connections
    this.#roomSend = send ?? null
    this.#ticker = ticker
  }

  /** The coalescing window a send would start now, in milliseconds (RELAY-6.7: it grows with the room). */
  get windowMs(): number {
    return presenceWindowMs(this.#limits, this.#connections())
  }

  /** Client ids with a present state. */
  get size(): number {
    return this.#present
  }

  /** Bytes of the present states (their JSON text). */
  get bytes(): number {
    return this.#bytes
  }

  /** Updates {@link apply} dropped because none of their entries was news (echoes, stale states) so far. */
  get staleUpdates(): number {
    return this.#stale
  }

  /**
   * States {@link apply} looked at so far (an entry's state bytes taken out of its update, to be checked, stored or
   * forwarded): only news is (RELAY-6.4); an echo's entries are read up to their clock and skipped.
   */
  get statesRead(): number {
    return this.#reader.statesRead
  }

  /**
   * Records an awareness update from `owner` with y-protocols' clock rules. Returns what changed (to broadcast), or
   * a refusal (and changes nothing) when `owner` would introduce more client ids than allowed or the room is full.
   * Throws a `malformed-message` WeftError for an update that does not decode (its news must also be valid JSON).
   * With `ownOnly` (a read-only connection, RELAY-6.9), entries of a client present in the room under another
   * connection are no news: the connection may introduce clients and take over removed ones, but not speak for
   * another connection's present client.
   */
  apply(update: Uint8Array, owner: object, ownOnly = false): PresenceApplied {
    // RELAY-6.4: each entry's client id and clock are read and compared first; the state of an entry that is no
    // news is skipped over, never looked at. An update with no news costs no allocation.
    const reader = this.#reader
    const entries = this.#entries
    reader.reset(update)
    let news: EncodedAwarenessEntry[] | null = null
    while (reader.next()) {
      const current = entries.get(reader.clientID)
      if (
        (current === undefined ||
          current.clock < reader.clock ||
          (current.clock === reader.clock && current.state !== null && reader.removed())) &&
        !(ownOnly && current !== undefined && current.state !== null && current.owner !== owner)
      ) {
        if (news === null) news = [reader.entry()]
        else news.push(reader.entry())
      }
    }
    if (news === null) {
      this.#stale++
      return NO_NEWS
    }
    // Only news is checked: its states must be JSON (clients parse what they are sent). A state whose JSON is
    // `null` is a removal, whatever its spelling.
    const states: Array<Uint8Array | null> = new Array<Uint8Array | null>(news.length)
    for (let i = 0; i < news.length; i++) {
      const state = (news[i] as EncodedAwarenessEntry).state
      states[i] = removes(state) ? null : state
    }
    const refusal = this.#check(news, states, owner)
    if (refusal) return { ok: false, reason: refusal }
    for (let i = 0; i < news.length; i++) {
      const e = news[i] as EncodedAwarenessEntry
      this.#set(e.clientID, e.clock, states[i] ?? null, owner)
    }
    this.#all = null
    const bytes = news.length === reader.count ? update : encodeEntries(news)
    this.#lastNews = bytes
    this.#lastEntries = news
    return { ok: true, news: bytes }
  }

  /**
   * Sends `news` (from {@link apply}) to the room through `send` (default: the room's connections, given to the
   * constructor): at once if nothing was sent within the room's window ({@link windowMs}), otherwise merged with
   * what else arrives until the window ends into one update (RELAY-6.4, RELAY-6.7).
   */
  broadcast(news: Uint8Array, send?: (update: Uint8Array) => void): void {
    const to = send ?? this.#roomSend
    if (to === null) throw new TypeError('AwarenessTable.broadcast: no send given and no room send set')
    // The entries of the news apply() just returned, so that it is not read again.
    const entries = news === this.#lastNews ? this.#lastEntries : null
    this.#lastNews = null
    this.#lastEntries = []
    if (this.#limits.coalesceMs <= 0) return to(news)
    this.#send = to
    if (!this.#windowOpen) {
      to(news)
      this.#arm()
      return
    }
    const pending = this.#pending
    for (const e of entries ?? readEncodedAwarenessEntries(news)) pending.set(e.clientID, e)
  }

  /** The window ended: what it held goes out as one update, and the next window starts; none if it held nothing. */
  readonly #windowEnded = (): void => {
    this.#windowOpen = false
    const pending = this.#pending
    if (pending.size === 0 || !this.#send) return
    const update = encodeHeld(pending)
    pending.clear()
    this.#send(update)
    this.#arm()
  }

  /**
   * Starts a window after a send: its length is read from the room's size now (RELAY-6.7), and it ends on the
   * relay's first tick of that length at least half a window from now (RELAY-6.8): one window later when the send
   * was itself on a tick (a busy room), between half a window and one and a half after a quiet room's immediate send.
   */
  #arm(): void {
    const ms = this.windowMs
    this.#windowOpen = true
    this.#ticker.schedule(ms, ms / 2, this.#windowEnded)
  }

  /** Checks the limits for `news` (with their `states`: `null` for a removal, else the bytes). */
  #check(
    news: readonly EncodedAwarenessEntry[],
    states: ReadonlyArray<Uint8Array | null>,
    owner: object,
  ): PresenceRefusal | null {
    let added = 0
    let taken = 0
    let bytes = 0
    /** Change of the bytes held by the clients `owner` introduced (those it takes over included). */
    let ownBytes = 0
    const seen = news.length > 1 ? new Set<number>() : null
    for (let i = 0; i < news.length; i++) {
      const e = news[i] as EncodedAwarenessEntry
      if (seen) {
        if (seen.has(e.clientID)) continue
        seen.add(e.clientID)
      }
      const current = this.#entries.get(e.clientID)
      if (current === undefined) added++
      const takes = current === undefined || (current.state === null && current.owner !== owner)
      if (takes) taken++
      const delta = (states[i]?.byteLength ?? 0) - (current?.state?.length ?? 0)
      bytes += delta
      if (takes || current.owner === owner) ownBytes += delta
    }
    const limits = this.#limits
    if (this.#ownedCount(owner) + taken > limits.maxClientsPerConnection)
      return 'too-many-clients-per-connection'
    if (this.#entries.size + added > limits.maxClientsPerRoom) return 'room-full'
    if (ownBytes > 0 && this.#bytesOf(owner) + ownBytes > limits.maxBytesPerConnection)
      return 'connection-full'
    if (bytes > 0 && this.#bytes + bytes > limits.maxBytesPerRoom) return 'room-full'
    return null
  }

  #set(clientID: number, clock: number, encoded: Uint8Array | null, owner: object): void {
    const current = this.#entries.get(clientID)
    // Entries repeated within one update: the rule again against what the earlier one set.
    if (current && current.clock > clock) return
    const state = encoded ? hold(encoded) : null
    if (current?.state != null) {
      this.#present--
      this.#bytes -= current.state.length
    }
    if (state !== null) {
      this.#present++
      this.#bytes += state.length
    }
    if (current === undefined) {
      this.#entries.set(clientID, { clock, state, owner })
      this.#own(owner, clientID)
      return
    }
    if (current.state === null && current.owner !== owner) {
      this.#disown(current.owner, clientID)
      current.owner = owner
      this.#own(owner, clientID)
    }
    current.clock = clock
    current.state = state
  }

  /** Bytes of the present states of the clients `owner` introduced (at most `maxClientsPerConnection` of them). */
  #bytesOf(owner: object): number {
    let n = 0
    for (const id of this.#ownedIds(owner)) n += this.#entries.get(id)?.state?.length ?? 0
    return n
  }

  #ownedCount(owner: object): number {
    const ids = this.#owned.get(owner)
    return ids === undefined ? 0 : typeof ids === 'number' ? 1 : ids.size
  }

  #ownedIds(owner: object): Iterable<number> {
    const ids = this.#owned.get(owner)
    return ids === undefined ? [] : typeof ids === 'number' ? [ids] : ids
  }

  #own(owner: object, clientID: number): void {
    const ids = this.#owned.get(owner)
    if (ids === undefined) this.#owned.set(owner, clientID)
    else if (typeof ids === 'number') {
      if (ids !== clientID) this.#owned.set(owner, new Set([ids, clientID]))
    } else ids.add(clientID)
  }

  #disown(owner: object, clientID: number): void {
    const ids = this.#owned.get(owner)
    if (ids === clientID) this.#owned.delete(owner)
    else if (typeof ids === 'object') ids.delete(clientID)
  }

  /**
   * An update with every present state (except the clients `exclude` has), or `null` if there is none. Bounded by
   * the room's limits; without `exclude` it is built once per change of the table.
   */
  encodeAll(exclude?: { has(clientID: number): boolean }): Uint8Array | null {
    if (this.#present === 0) return null
    if (!exclude && this.#all) return this.#all
    const out: EncodedAwarenessEntry[] = []
    for (const [clientID, e] of this.#entries) {
      if (e.state !== null && !exclude?.has(clientID))
        out.push({ clientID, clock: e.clock, state: bytesOfHeld(e.state) })
    }
    if (out.length === 0) return null
    const encoded = encodeEntries(out)
    if (!exclude) this.#all = encoded
    return encoded
  }

  /** A connection closed: the clients it introduced are removed. Returns the removal to broadcast, or `null`. */
  removeOwner(owner: object): Uint8Array | null {
    if (!this.#owned.has(owner)) return null
    const ids = this.#ownedIds(owner)
    this.#owned.delete(owner)
    const removed: EncodedAwarenessEntry[] = []
    for (const id of ids) {
      const e = this.#entries.get(id)
      if (!e) continue
      if (e.state !== null) {
        removed.push({ clientID: id, clock: e.clock, state: NULL_STATE })
        this.#present--
        this.#bytes -= e.state.length
      }
      // Forget the client entirely: a later state from it is accepted whatever its clock. News of it not sent yet
      // would bring it back to whoever had not seen it.
      this.#entries.delete(id)
      this.#pending.delete(id)
    }
    this.#all = null
    return removed.length > 0 ? encodeEntries(removed) : null
  }
}

const NULL_STATE = utf8.encode('null')

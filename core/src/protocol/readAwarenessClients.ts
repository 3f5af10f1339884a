import * as encoding from 'lib0/encoding'
import { WeftError, WeftErrorCode } from '../WeftError.js'
import { decodeUtf8 } from './checkedDecoding.js'
import { checkJsonDepth } from './jsonDepth.js'

/** One entry of an awareness update. */
export interface AwarenessEntry {
  readonly clientID: number
  readonly clock: number
  /** `null` means the client's state was removed. */
  readonly state: unknown
}

/**
 * Fully decodes an awareness update (y-protocols format) without applying it, so a malformed one is rejected
 * before anything changes (SYNC-6.1). Throws a `malformed-message` {@link WeftError}.
 */
export const readAwarenessEntries = (update: Uint8Array): AwarenessEntry[] =>
  readEncodedAwarenessEntries(update).map(({ clientID, clock, state }) => ({
    clientID,
    clock,
    state: decodeAwarenessState(state),
  }))

/**
 * One entry of an awareness update with its state left encoded: the UTF-8 bytes of the state's JSON text (a view
 * into the update; copy it to keep it).
 */
export interface EncodedAwarenessEntry {
  readonly clientID: number
  readonly clock: number
  readonly state: Uint8Array
}

/**
 * Reads the client ids and clocks of an awareness update and checks its structure (every length fits), without
 * decoding any state. Throws a `malformed-message` {@link WeftError}. A relay that must recognise an update carrying
 * no news (an echo: same client, same clock) before any other work reads it with an {@link AwarenessUpdateReader}
 * instead, which creates nothing per entry (RELAY-6.4).
 */
export const readEncodedAwarenessEntries = (update: Uint8Array): EncodedAwarenessEntry[] => {
  const reader = new AwarenessUpdateReader()
  reader.reset(update)
  const out: EncodedAwarenessEntry[] = []
  while (reader.next()) out.push(reader.entry())
  return out
}

/** Largest integer a varUint may encode here (as lib0: what a double holds exactly). */
const MAX_VAR_UINT = Number.MAX_SAFE_INTEGER

/**
 * Reads an awareness update (y-protocols format) one entry at a time, allocating nothing per entry: after
 * {@link AwarenessUpdateReader.next} the current entry's client id, clock and the position of its state's bytes are
 * fields; the state is looked at only when asked for ({@link AwarenessUpdateReader.state},
 * {@link AwarenessUpdateReader.removed}). What a relay needs to drop an entry that carries no news (an echo: same
 * client, same clock) after reading only its client id and clock (RELAY-6.4). The structure is checked as it is
 * read (every length fits the update); a reader can be reused for any number of updates ({@link
 * AwarenessUpdateReader.reset}).
 *
 * @example
 * ```ts
 * const reader = new AwarenessUpdateReader()
 * reader.reset(update) // throws a malformed-message WeftError if the entry count does not fit
 * while (reader.next()) if (isNews(reader.clientID, reader.clock)) keep(reader.entry())
 * ```
 */
export class AwarenessUpdateReader {
  /** The current entry's client id (after a successful {@link AwarenessUpdateReader.next}). */
  clientID = 0
  /** The current entry's clock. */
  clock = 0
  /** Entries of the update (its declared count, checked against its size). */
  count = 0
  /**
   * States taken out of their updates ({@link AwarenessUpdateReader.state}) since this reader was created: a count
   * for tests and metrics (an entry skipped after its clock counts nothing).
   */
  statesRead = 0
  #update: Uint8Array = EMPTY
  #pos = 0
  #left = 0
  #stateStart = 0
  #stateEnd = 0

  /** Starts reading `update`. Throws a `malformed-message` {@link WeftError} if its entry count cannot fit. */
  reset(update: Uint8Array): void {
    this.#update = update
    this.#pos = 0
    try {
      const count = this.#readVarUint()
      if (count > update.length) throw new Error(`claims ${count} entries in ${update.length} bytes`)
      this.count = count
      this.#left = count
    } catch (err) {
      this.#left = 0
      throw malformed(err)
    }
  }

  /**
   * Moves to the next entry: reads its client id, its clock and its state's length (checked), skips the state's
   * bytes. Returns false after the last entry. Throws a `malformed-message` {@link WeftError}.
   */
  next(): boolean {
    if (this.#left === 0) return false
    this.#left--
    try {
      this.clientID = this.#readVarUint()
      this.clock = this.#readVarUint()
      const len = this.#readVarUint()
      const start = this.#pos
      if (start + len > this.#update.length) throw new Error(`length ${len} runs past the end of the message`)
      this.#stateStart = start
      this.#stateEnd = this.#pos = start + len
      return true
    } catch (err) {
      this.#left = 0
      throw malformed(err)
    }
  }

  /** The current entry's state: a view of its JSON text's UTF-8 bytes in the update (copy it to keep it). */
  state(): Uint8Array {
    this.statesRead++
    return this.#update.subarray(this.#stateStart, this.#stateEnd)
  }

  /**
   * Whether the current entry's state is exactly `null` (a removal): its length compared, then at most its 4 bytes
   * ({@link isRemovedAwarenessState}).
   */
  removed(): boolean {
    const u = this.#update
    const i = this.#stateStart
    return (
      this.#stateEnd - i === 4 && u[i] === 0x6e && u[i + 1] === 0x75 && u[i + 2] === 0x6c && u[i + 3] === 0x6c
    )
  }

  /** The current entry, its state a view ({@link AwarenessUpdateReader.state}). */
  entry(): EncodedAwarenessEntry {
    return { clientID: this.clientID, clock: this.clock, state: this.state() }
  }

  /** lib0's varUint format (7 bits per byte, low first), bounded to {@link MAX_VAR_UINT} and to the update. */
  #readVarUint(): number {
    const u = this.#update
    let n = 0
    let mult = 1
    for (;;) {
      if (this.#pos >= u.length) throw new Error('unexpected end of message')
      const byte = u[this.#pos++] as number
      n += (byte & 0x7f) * mult
      if (byte < 0x80) return n
      mult *= 128
      if (n > MAX_VAR_UINT || mult > 2 ** 56) throw new Error('integer out of range')
    }
  }
}

const EMPTY = new Uint8Array(0)

/**
 * Whether an encoded state is exactly the JSON text `null` (the client's state was removed), as y-protocols writes
 * it. A byte comparison, so that telling an echo from a removal at the same clock needs no decoding.
 */
export const isRemovedAwarenessState = (state: Uint8Array): boolean =>
  state.length === 4 && state[0] === 0x6e && state[1] === 0x75 && state[2] === 0x6c && state[3] === 0x6c

/** Decodes an encoded state (checked UTF-8, then JSON). Throws a `malformed-message` {@link WeftError}. */
export const decodeAwarenessState = (state: Uint8Array): unknown => {
  try {
    return parseAwarenessJson(decodeUtf8(state))
  } catch (err) {
    throw malformed(err)
  }
}

/**
 * Deepest nesting of arrays and objects an awareness state may have (SYNC-6.2). Presence is flat in practice (a
 * cursor's relative positions nest about five levels); y-protocols re-encodes received states with the recursive
 * `JSON.stringify`, so a state nested some thousands deep, small enough for any byte limit, overflows the stack of
 * every stock peer that receives it.
 */
export const MAX_AWARENESS_DEPTH = 64

/** `JSON.parse` of an awareness state, refused (thrown) when it nests deeper than {@link MAX_AWARENESS_DEPTH}. */
const parseAwarenessJson = (text: string): unknown => {
  checkJsonDepth(text, MAX_AWARENESS_DEPTH, 'state')
  return JSON.parse(text) as unknown
}

/** Encodes entries with encoded states in the y-protocols awareness update format. */
export const encodeAwarenessEntries = (entries: Iterable<EncodedAwarenessEntry>): Uint8Array => {
  const list = Array.isArray(entries) ? (entries as EncodedAwarenessEntry[]) : [...entries]
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, list.length)
  for (const { clientID, clock, state } of list) {
    encoding.writeVarUint(encoder, clientID)
    encoding.writeVarUint(encoder, clock)
    encoding.writeVarUint8Array(encoder, state)
  }
  return encoding.toUint8Array(encoder)
}

const malformed = (err: unknown): WeftError =>
  new WeftError(
    WeftErrorCode.MalformedMessage,
    `malformed awareness update: ${err instanceof Error ? err.message : String(err)}`,
    { cause: err },
  )

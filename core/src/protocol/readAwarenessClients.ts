import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { WeftError, WeftErrorCode } from '../WeftError.js'
import { decodeUtf8, readBytes } from './checkedDecoding.js'

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
 * decoding any state: what a relay needs to recognise an update that carries no news (an echo: same client, same
 * clock) before doing any other work (RELAY-6.4). Throws a `malformed-message` {@link WeftError}.
 */
export const readEncodedAwarenessEntries = (update: Uint8Array): EncodedAwarenessEntry[] => {
  const decoder = decoding.createDecoder(update)
  try {
    const len = decoding.readVarUint(decoder)
    if (len > update.length) throw new Error(`claims ${len} entries in ${update.length} bytes`)
    const out: EncodedAwarenessEntry[] = []
    for (let i = 0; i < len; i++) {
      const clientID = decoding.readVarUint(decoder)
      const clock = decoding.readVarUint(decoder)
      out.push({ clientID, clock, state: readBytes(decoder) })
    }
    return out
  } catch (err) {
    throw malformed(err)
  }
}

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
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c)
        i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_AWARENESS_DEPTH)
        throw new Error(`state nested deeper than ${MAX_AWARENESS_DEPTH} levels`)
    } else if (c === 0x5d || c === 0x7d) depth--
  }
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

import * as decoding from 'lib0/decoding'
import { WeftError, WeftErrorCode } from '../WeftError.js'
import { readString } from './checkedDecoding.js'

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
export const readAwarenessEntries = (update: Uint8Array): AwarenessEntry[] => {
  const decoder = decoding.createDecoder(update)
  try {
    const len = decoding.readVarUint(decoder)
    if (len > update.length) throw new Error(`claims ${len} entries in ${update.length} bytes`)
    const out: AwarenessEntry[] = []
    for (let i = 0; i < len; i++) {
      const clientID = decoding.readVarUint(decoder)
      const clock = decoding.readVarUint(decoder)
      const state: unknown = JSON.parse(readString(decoder))
      out.push({ clientID, clock, state })
    }
    return out
  } catch (err) {
    throw new WeftError(
      WeftErrorCode.MalformedMessage,
      `malformed awareness update: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    )
  }
}

import * as encoding from 'lib0/encoding'
import { readAwarenessEntries } from '@weft/core'

interface Entry {
  clock: number
  /** The state as JSON text; `null` once removed. */
  state: string | null
  owner: object
}

/**
 * Encodes awareness entries in the y-protocols awareness update format.
 * TODO(core): move next to `readAwarenessEntries` in core/src/protocol.
 */
export const encodeAwarenessEntries = (
  entries: ReadonlyArray<readonly [number, number, string]>,
): Uint8Array => {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, entries.length)
  for (const [clientID, clock, json] of entries) {
    encoding.writeVarUint(encoder, clientID)
    encoding.writeVarUint(encoder, clock)
    encoding.writeVarString(encoder, json)
  }
  return encoding.toUint8Array(encoder)
}

/**
 * The presence states of one relay room, kept without a Y.Doc or an Awareness instance: which client ids are
 * present, their latest clock and state, and which connection sent them, so that a connection's clients are
 * removed (clock + 1, state null, as y-protocols does) when it closes.
 */
export class AwarenessTable {
  readonly #entries = new Map<number, Entry>()
  readonly #maxClientsPerOwner: number

  constructor(maxClientsPerOwner = 256) {
    this.#maxClientsPerOwner = maxClientsPerOwner
  }

  /** Client ids with a present state. */
  get size(): number {
    let n = 0
    for (const e of this.#entries.values()) if (e.state !== null) n++
    return n
  }

  /**
   * Records an awareness update from `owner` with y-protocols' clock rules. Returns `false` (and changes nothing)
   * when `owner` would control more client ids than allowed. Throws a `malformed-message` WeftError for an update
   * that does not decode.
   */
  apply(update: Uint8Array, owner: object): boolean {
    const entries = readAwarenessEntries(update)
    const owned = new Set<number>()
    for (const [id, e] of this.#entries) if (e.owner === owner) owned.add(id)
    for (const e of entries) owned.add(e.clientID)
    if (owned.size > this.#maxClientsPerOwner) return false
    for (const { clientID, clock, state } of entries) {
      const current = this.#entries.get(clientID)
      const accept =
        current === undefined ||
        current.clock < clock ||
        (current.clock === clock && state === null && current.state !== null)
      if (!accept) continue
      this.#entries.set(clientID, { clock, state: state === null ? null : JSON.stringify(state), owner })
    }
    return true
  }

  /** An update with every present state, or `null` if nobody is present. */
  encodeAll(): Uint8Array | null {
    const out: Array<readonly [number, number, string]> = []
    for (const [id, e] of this.#entries) if (e.state !== null) out.push([id, e.clock, e.state])
    return out.length > 0 ? encodeAwarenessEntries(out) : null
  }

  /** Forgets every client that `owner` controls; returns the removal update to broadcast, or `null`. */
  removeOwner(owner: object): Uint8Array | null {
    const removed: Array<readonly [number, number, string]> = []
    for (const [id, e] of this.#entries) {
      if (e.owner !== owner) continue
      if (e.state !== null) removed.push([id, e.clock + 1, 'null'])
      this.#entries.delete(id)
    }
    return removed.length > 0 ? encodeAwarenessEntries(removed) : null
  }
}

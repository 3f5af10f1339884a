import * as encoding from 'lib0/encoding'
import { readAwarenessEntries } from '@weft/core'

interface Entry {
  clock: number
  /** The state as JSON text; `null` once removed. */
  state: string | null
  /**
   * The connection that introduced this client. Later states of the client may arrive over other connections too
   * (stock y-websocket clients echo every awareness change they receive; Weft peers forward the presence of the
   * peers they bridge): those do not take the client over.
   */
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
 * present, their latest clock and state, and which connection introduced them, so that a client is removed when
 * that connection closes. The removal keeps the client's clock (state null), as y-protocols'
 * `removeAwarenessStates` does for remote clients, so that the client's next state (at a higher clock) is accepted
 * at once when it comes back (RELAY-4.x, SYNC-6.3).
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
      this.#entries.set(clientID, {
        clock,
        state: state === null ? null : JSON.stringify(state),
        owner: current === undefined || current.state === null ? owner : current.owner,
      })
    }
    return true
  }

  /** An update with every present state, or `null` if nobody is present. */
  encodeAll(): Uint8Array | null {
    const out: Array<readonly [number, number, string]> = []
    for (const [id, e] of this.#entries) if (e.state !== null) out.push([id, e.clock, e.state])
    return out.length > 0 ? encodeAwarenessEntries(out) : null
  }

  /** A connection closed: the clients it introduced are removed. Returns the removal to broadcast, or `null`. */
  removeOwner(owner: object): Uint8Array | null {
    const removed: Array<readonly [number, number, string]> = []
    for (const [id, e] of this.#entries) {
      if (e.owner !== owner) continue
      if (e.state !== null) removed.push([id, e.clock, 'null'])
      // Forget the client entirely: a later state from it is accepted whatever its clock.
      this.#entries.delete(id)
    }
    return removed.length > 0 ? encodeAwarenessEntries(removed) : null
  }
}

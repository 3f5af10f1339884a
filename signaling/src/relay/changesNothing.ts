import * as Y from 'yjs'
import { changesNothingOver, readDeletions, type DeleteRanges } from '@weft/core/protocol'

/** What {@link changesNothing} reads of a room's log. */
export interface HeldState {
  /** The whole state as one update (the same array until the log changes). */
  state(): Uint8Array
  /** The state vector of {@link HeldState.state}. */
  stateVector(): Uint8Array
}

/** The deletions of each state the check looked at, by the state's bytes (gone with them). */
const deletionsOf = new WeakMap<Uint8Array, DeleteRanges>()

/**
 * RELAY-3.9, "store nothing that changes nothing": whether `update` (V1, validated) adds nothing to `log`
 * (`changesNothingOver` of @weft/core/protocol, the decision the client's handshake echo makes too): it holds no
 * struct and only deletions the log holds. Such an update (a Yjs step 2 always carries its sender's whole delete set,
 * so every handshake of a document with deletions sends one) is acknowledged like the empty update, never appended,
 * stored or forwarded, so it advances no workspace change sequence. An update with a struct is not examined (its
 * first byte, the count of clients with structs, is not 0): the check costs nothing on ordinary edits. The log's own
 * deletions are read once per state (its structs cut off by its own state vector), then kept until the log changes.
 */
export const changesNothing = (log: HeldState, update: Uint8Array): boolean =>
  changesNothingOver(update, () => {
    const state = log.state()
    let held = deletionsOf.get(state)
    if (!held) {
      let own: ReturnType<typeof readDeletions>
      try {
        own = readDeletions(Y.diffUpdate(state, log.stateVector()))
      } catch {
        return null
      }
      if (own === null) return null
      held = own.deletions
      deletionsOf.set(state, held)
    }
    return held
  })

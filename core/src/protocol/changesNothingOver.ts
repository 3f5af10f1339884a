import { readDeletions, type DeleteRanges } from './deleteSets.js'

/**
 * The deletions of a (V1) update that holds nothing else; `null` when it holds a struct or Yjs cannot decode it. An
 * update with a struct is not decoded (its first byte, the count of clients with structs, is not 0): this costs
 * nothing on ordinary edits.
 */
export const deletionsOnly = (update: Uint8Array): DeleteRanges | null => {
  if (update[0] !== 0) return null
  const read = readDeletions(update)
  return read === null || read.structs ? null : read.deletions
}

/**
 * Whether every deletion of `ds` is among `known`, both as {@link DeleteRanges} keep them (per client, sorted, merged
 * ranges): each range is looked up by binary search, so a catalogue's thousands of ranges cost milliseconds, not the
 * product of the two counts.
 */
export const holdsDeletions = (known: DeleteRanges, ds: DeleteRanges): boolean => {
  for (const [client, ranges] of ds) {
    if (ranges.length === 0) continue
    const have = known.get(client)
    if (!have) return false
    for (const [from, to] of ranges) {
      // The last known range starting at or before `from`.
      let lo = 0
      let hi = have.length - 1
      let at = -1
      while (lo <= hi) {
        const mid = (lo + hi) >> 1
        if ((have[mid] as [number, number])[0] <= from) {
          at = mid
          lo = mid + 1
        } else hi = mid - 1
      }
      if (at < 0) return false
      // Merged ranges never touch; ranges that do (added without merging) still extend the covered run.
      let end = (have[at] as [number, number])[1]
      for (let i = at + 1; end < to && i < have.length && (have[i] as [number, number])[0] <= end; i++)
        end = Math.max(end, (have[i] as [number, number])[1])
      if (end < to) return false
    }
  }
  return true
}

/**
 * "This step 2 changes nothing" (RELAY-3.9 on the relay, WS-CLIENT-LINK-9 on the client), decided once for both:
 * whether applying `update` (V1) to a state that holds the deletions `held()` changes nothing, i.e. it holds no
 * struct and only deletions among them. A Yjs step 2 always carries its sender's whole delete set, so this is how
 * a handshake of a document both sides hold looks. `held` is called only for an update with no struct (the relay
 * reads its log's deletions then, not on ordinary edits); `null` from it (not known) means the update may change
 * something.
 */
export const changesNothingOver = (update: Uint8Array, held: () => DeleteRanges | null): boolean => {
  const ds = deletionsOnly(update)
  if (ds === null) return false
  const known = held()
  return known !== null && holdsDeletions(known, ds)
}

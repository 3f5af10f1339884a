import * as Y from 'yjs'

/**
 * The deletions of a Yjs update or document: per client id, its deleted clocks as sorted, disjoint, non-adjacent
 * `[clock, end)` ranges. Two equal sets of deletions have equal ranges, however their updates encoded them.
 */
export type DeleteRanges = Map<number, Array<[number, number]>>

/**
 * The deletions of a (V1) update and whether it holds any struct; `null` when Yjs cannot decode it. A Yjs step 2
 * carries the sender's whole delete set, so "no struct, and only deletions the receiver holds" is how a handshake
 * that changes nothing looks (RELAY-3.9, WS-CLIENT-LINK-9).
 */
export const readDeletions = (update: Uint8Array): { structs: boolean; deletions: DeleteRanges } | null => {
  try {
    const { structs, ds } = Y.decodeUpdate(update)
    const deletions: DeleteRanges = new Map()
    for (const [client, items] of ds.clients)
      addDeletions(
        deletions,
        new Map([[client, items.map((i): [number, number] => [i.clock, i.clock + i.len])]]),
      )
    return { structs: structs.length > 0, deletions }
  } catch {
    return null
  }
}

/** Adds the deletions `more` to `into` (ranges stay sorted and merged). */
export const addDeletions = (into: DeleteRanges, more: DeleteRanges): void => {
  for (const [client, ranges] of more) {
    if (ranges.length === 0) continue
    const all = [...(into.get(client) ?? []), ...ranges].sort((x, y) => x[0] - y[0])
    const merged: Array<[number, number]> = []
    for (const [a, b] of all) {
      const last = merged[merged.length - 1]
      if (last && a <= last[1]) last[1] = Math.max(last[1], b)
      else merged.push([a, b])
    }
    into.set(client, merged)
  }
}

/** Whether every deletion of `ds` is among `known`. */
export const coversDeletions = (known: DeleteRanges, ds: DeleteRanges): boolean => {
  for (const [client, ranges] of ds) {
    const have = known.get(client) ?? []
    for (const [from, to] of ranges) {
      let at = from
      for (const [a, b] of have) if (a <= at && b > at) at = b
      if (at < to) return false
    }
  }
  return true
}

import * as encoding from 'lib0/encoding'
import { digest } from 'lib0/hash/sha256'
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

/** Bytes of a {@link deletionsDigest}. */
export const DELETIONS_DIGEST_BYTES = 16

/**
 * The digest of a set of deletions (WS-WIRE-6): the first 16 bytes of SHA-256 over its canonical encoding (clients
 * ascending, each as varUint client, varUint count, then varUint clock and varUint length per range). Equal sets
 * have equal digests however their updates encoded them; a client sends it with SUBSCRIBE so that the relay's step 2
 * leaves out deletions the client holds. 16 bytes, not 8: a writer who knows a room's deletions could search 2^32
 * hashes for two delete sets of equal 8-byte digest and so keep a later deletion from an offline client.
 */
export const deletionsDigest = (ds: DeleteRanges): Uint8Array => {
  const e = encoding.createEncoder()
  writeRanges(e, ds, clientsOf(ds))
  // A plain Uint8Array (lib0 gives a Buffer in Node), equal to its decoded copy.
  return Uint8Array.from(digest(encoding.toUint8Array(e)).subarray(0, DELETIONS_DIGEST_BYTES))
}

/** The clients of `ds` that have ranges, ascending. */
const clientsOf = (ds: DeleteRanges): number[] =>
  [...ds.keys()].filter((c) => (ds.get(c)?.length ?? 0) > 0).sort((a, b) => a - b)

/** Per client of `clients`: varUint client, varUint count, then varUint clock and varUint length per range. */
const writeRanges = (e: encoding.Encoder, ds: DeleteRanges, clients: readonly number[]): void => {
  for (const client of clients) {
    const ranges = ds.get(client) ?? []
    encoding.writeVarUint(e, client)
    encoding.writeVarUint(e, ranges.length)
    for (const [from, to] of ranges) {
      encoding.writeVarUint(e, from)
      encoding.writeVarUint(e, to - from)
    }
  }
}

/** A V1 update holding only the deletions `ds` (no struct): applied, it deletes exactly those clocks. */
export const encodeDeletionsUpdate = (ds: DeleteRanges): Uint8Array => {
  const e = encoding.createEncoder()
  const clients = clientsOf(ds)
  encoding.writeVarUint(e, 0) // no structs
  encoding.writeVarUint(e, clients.length)
  writeRanges(e, ds, clients)
  return encoding.toUint8Array(e)
}

/**
 * The update of a relay's step 2 that says "I hold exactly the deletions of your digest, and no struct you lack"
 * (WS-WIRE-6): a valid Yjs update that changes nothing (no struct; one delete-set entry, client 0, with no range), so
 * a peer that does not know the convention applies it as the empty update, and distinct from the empty update `[0, 0]`,
 * which a relay with no deletion at all sends.
 */
export const DELETIONS_MATCHED_UPDATE: Uint8Array = new Uint8Array([0, 1, 0, 0])

/** Whether `update` is {@link DELETIONS_MATCHED_UPDATE}. */
export const isDeletionsMatched = (update: Uint8Array): boolean =>
  update.byteLength === 4 && update[0] === 0 && update[1] === 1 && update[2] === 0 && update[3] === 0

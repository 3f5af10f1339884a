import * as encoding from 'lib0/encoding'
import { digest } from 'lib0/hash/sha256'

const TWO_32 = 2 ** 32
const TWO_52 = 2 ** 52
const TWO_53 = 2 ** 53

/** Lowest id of an epoch's init writer (COMPACT-3.3): live Yjs clients are random 32-bit ids, all below it. */
export const MIN_EPOCH_CLIENT = TWO_52 + TWO_32

/** `SHA-256(key ‖ tag ‖ n)` as a non-negative integer below 2^48 (synchronous: lib0's SHA-256). */
const hash48 = (key: string, tag: string, n: number): number => {
  const enc = encoding.createEncoder()
  encoding.writeVarString(enc, key)
  encoding.writeVarString(enc, tag)
  encoding.writeFloat64(enc, n)
  const h = digest(encoding.toUint8Array(enc))
  let v = 0
  for (let i = 0; i < 6; i++) v = v * 256 + (h[i] ?? 0)
  return v
}

/**
 * Deterministic Yjs client ids of an epoch (docs/spec/compaction.md, COMPACT-3.3, COMPACT-5.3).
 *
 * - `epochClient(epochId, c)` is the client that writes, in epoch `epochId`, the re-applied changes of old client
 *   `c`: `c` itself (with clocks shifted to start at 0 after the base, COMPACT-5.3). Every peer that re-applies the
 *   same old change computes the same id, so Yjs stores the change once; and the map keeps the order of **all**
 *   client ids, also of ids re-applied before, so Yjs resolves concurrent insertions and concurrent writes to one
 *   map key exactly as in the old epoch. (A map that moved ids elsewhere could not keep the order of ids carried
 *   over several epochs together with new ones: winners of concurrent map writes would flip, and a loser written as
 *   deleted would then delete the winner.) Live clients of the new epoch are fresh documents with fresh random ids;
 *   Yjs itself changes a document's client id when it sees another writer using it.
 * - `epochClient(parentId, 'init')` writes the fresh document of a child epoch of `parentId`; it lies in
 *   `[2^52 + 2^32, 2^53)`, above every live id. Its items are all in the next epoch's base, so they are never
 *   re-applied.
 */
export const epochClient = (epochId: string, oldClient: number | 'init'): number => {
  if (oldClient === 'init') return TWO_52 + TWO_32 + (hash48(epochId, 'init', 0) % (TWO_53 - TWO_52 - TWO_32))
  return oldClient
}

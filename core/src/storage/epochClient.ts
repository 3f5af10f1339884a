import * as encoding from 'lib0/encoding'
import { digest } from 'lib0/hash/sha256'

const TWO_32 = 2 ** 32
const TWO_20 = 2 ** 20
const TWO_52 = 2 ** 52
const TWO_53 = 2 ** 53

/** Lowest client id an epoch derives (COMPACT-3.3): live Yjs clients are random 32-bit ids, all below it. */
export const MIN_EPOCH_CLIENT = TWO_32

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
 *   `c`: every peer that re-applies the same old change computes the same id, so Yjs stores the change once.
 *   It is `2^32 + (c mod 2^32) · 2^20 + s`, with `s = 0` for a live (32-bit) client and `1 + (hash mod (2^20 - 1))`
 *   for a client that was itself derived: ids stay in `[2^32, 2^52 + 2^32)`, distinct, and **ordered like the
 *   32-bit ids they come from**, so Yjs orders concurrent re-applied insertions as it ordered the originals.
 * - `epochClient(parentId, 'init')` writes the fresh document of a child epoch of `parentId`; it lies in
 *   `[2^52 + 2^32, 2^53)`, above every other id of the epoch.
 *
 * Every result is a safe integer above 2^32, so it never collides with the random 32-bit ids Yjs gives live clients.
 */
export const epochClient = (epochId: string, oldClient: number | 'init'): number => {
  if (oldClient === 'init') return TWO_52 + TWO_32 + (hash48(epochId, 'init', 0) % (TWO_53 - TWO_52 - TWO_32))
  const low = oldClient % TWO_32
  const salt = oldClient < TWO_32 ? 0 : 1 + (hash48(epochId, 'client', oldClient) % (TWO_20 - 1))
  return TWO_32 + low * TWO_20 + salt
}

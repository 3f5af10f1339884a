/** A document stored locally, as the eviction plan sees it. */
export interface EvictionCandidate {
  readonly id: string
  /** Stored bytes. */
  readonly bytes: number
  /** When it was last opened on this device (ms; 0 = never). */
  readonly lastOpened: number
  /** Open now, being synced, preloaded by the policy, or holding pending changes: never evicted. */
  readonly keep: boolean
}

/**
 * The documents to evict so that the stored bytes fit in `budget` (WS-CLIENT-5): least recently opened first, never
 * one marked `keep`. Returns the ids in eviction order; it may not reach the budget when the kept documents alone
 * exceed it.
 */
export const planEviction = (candidates: readonly EvictionCandidate[], budget: number): string[] => {
  let total = candidates.reduce((sum, c) => sum + c.bytes, 0)
  if (total <= budget) return []
  const order = candidates
    .filter((c) => !c.keep)
    .sort((a, b) => a.lastOpened - b.lastOpened || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  const out: string[] = []
  for (const c of order) {
    if (total <= budget) break
    out.push(c.id)
    total -= c.bytes
  }
  return out
}

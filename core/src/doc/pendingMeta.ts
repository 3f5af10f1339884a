import { writerEntries, writerKey } from '../storage/writerMeta.js'

/**
 * Metadata key bases (in the document's DocStore) that make the pending-change count survive reloads (STORE-9.2).
 * Each writer of the store keeps its own keys `<base>:<writer>` (STORE-9.7); the key without a writer suffix is a
 * pre-STORE-9.7 store's count, read as one more writer's.
 */
export const PENDING_META = {
  /** Local changes made by one writer (one session) for this document. */
  local: 'weft:local-changes',
  /** How many of them the relay (or, without a relay, a peer) has confirmed, as that writer saw it. */
  confirmed: 'weft:confirmed-changes',
  /**
   * Other writers' changes a later writer loaded, pushed and saw confirmed (`"<writer>=<count> ..."`, writer `''`
   * for the pre-STORE-9.7 key): a crashed writer's changes are settled without anyone writing its keys.
   */
  settled: 'weft:settled-changes',
} as const

/** One writer's stored counts: `confirmed` (settled marks included) never exceeds `local`. */
export interface PendingGroup {
  readonly local: number
  readonly confirmed: number
}

const toCount = (v: string | undefined): number => {
  const n = Number(v)
  return Number.isSafeInteger(n) && n >= 0 ? n : 0
}

/** Every writer's stored counts in `meta` (STORE-9.7), by writer id (`''`: the pre-STORE-9.7 keys). */
export const readPendingGroups = (meta: Readonly<Record<string, string>>): Map<string, PendingGroup> => {
  const confirmed = new Map<string, number>()
  const raise = (writer: string, n: number) => confirmed.set(writer, Math.max(n, confirmed.get(writer) ?? 0))
  for (const [writer, value] of writerEntries(meta, PENDING_META.confirmed)) raise(writer, toCount(value))
  for (const [, value] of writerEntries(meta, PENDING_META.settled)) {
    for (const part of value.split(' ')) {
      const at = part.lastIndexOf('=')
      if (at >= 0) raise(part.slice(0, at), toCount(part.slice(at + 1)))
    }
  }
  const groups = new Map<string, PendingGroup>()
  for (const [writer, value] of writerEntries(meta, PENDING_META.local)) {
    const local = toCount(value)
    groups.set(writer, { local, confirmed: Math.min(local, confirmed.get(writer) ?? 0) })
  }
  return groups
}

/** Local changes not confirmed yet, summed over every writer's stored counts in `meta` (STORE-9.7). */
export const storedPendingCount = (meta: Readonly<Record<string, string>>): number => {
  let sum = 0
  for (const { local, confirmed } of readPendingGroups(meta).values()) sum += local - confirmed
  return sum
}

/** The `settled` entry value marking `groups` (writer -> local count) as confirmed. */
export const settledValue = (groups: ReadonlyMap<string, number>): string =>
  [...groups].map(([writer, n]) => `${writer}=${n}`).join(' ')

/**
 * The entries of other writers' settled counts in `meta` (STORE-9.8), to remove in an exact compaction decided on
 * that `meta`: a writer's local and confirmed keys once its count is settled (its own confirmation or a `settled`
 * mark covers its local count), and a `settled` mark once no writer it names has a local key left. `own` (the
 * caller's writer id) is never collected. `undefined`: nothing to collect.
 */
export const collectSettled = (
  meta: Readonly<Record<string, string>>,
  own: string,
): Record<string, null> | undefined => {
  const out: Record<string, null> = {}
  const left = new Set<string>()
  for (const [writer, { local, confirmed }] of readPendingGroups(meta)) {
    if (writer === own || local > confirmed) {
      left.add(writer)
      continue
    }
    out[writerKey(PENDING_META.local, writer)] = null
    if (meta[writerKey(PENDING_META.confirmed, writer)] !== undefined)
      out[writerKey(PENDING_META.confirmed, writer)] = null
  }
  for (const [writer, value] of writerEntries(meta, PENDING_META.settled)) {
    if (writer === own) continue
    const named = value.split(' ').map((part) => part.slice(0, part.lastIndexOf('=')))
    if (!named.some((w) => left.has(w))) out[writerKey(PENDING_META.settled, writer)] = null
  }
  // A confirmed key without a local key (its writer removed the local key first, STORE-9.7): nothing it confirms.
  for (const [writer] of writerEntries(meta, PENDING_META.confirmed))
    if (writer !== own && !left.has(writer) && meta[writerKey(PENDING_META.local, writer)] === undefined)
      out[writerKey(PENDING_META.confirmed, writer)] = null
  return Object.keys(out).length > 0 ? out : undefined
}

import type { Fields } from '@weft/core'
import type { CatalogueRecord } from './catalogue.js'

/**
 * Which documents of a workspace are kept locally and in sync (WS-CLIENT-4):
 * - `'all'`: every document of the catalogue;
 * - `{ recent: n }`: the `n` documents with the latest `updatedAt` (ties: by id);
 * - `{ pinned: ids }`: exactly these documents;
 * - a predicate over the catalogue record: the documents it returns true for.
 *
 * Deleted documents are never preloaded. Others are fetched when opened.
 */
export type PreloadPolicy<M extends Fields = Fields> =
  | 'all'
  | { readonly recent: number }
  | { readonly pinned: readonly string[] }
  | ((entry: CatalogueRecord<M>) => boolean)

/**
 * Whether `policy` preloads `entry`, for every policy but `{ recent: n }` (which ranks the whole catalogue); `pinned`:
 * the ids of a `{ pinned }` policy as a set, else `null`. Deleted documents never are.
 */
export const preloadsEntry = <M extends Fields>(
  entry: CatalogueRecord<M>,
  policy: PreloadPolicy<M>,
  pinned: ReadonlySet<string> | null,
): boolean => {
  if (entry.deleted) return false
  if (policy === 'all') return true
  if (pinned) return pinned.has(entry.id)
  if (typeof policy !== 'function') return false
  // An app predicate that throws preloads nothing for that entry: junk metadata never stops the workspace.
  try {
    return policy(entry)
  } catch {
    return false
  }
}

/** The ids of the documents `policy` preloads among `entries` (a pure function of the catalogue). */
export const choosePreload = <M extends Fields>(
  entries: readonly CatalogueRecord<M>[],
  policy: PreloadPolicy<M> | undefined,
): Set<string> => {
  if (policy === undefined) return new Set()
  if (typeof policy === 'object' && 'recent' in policy) {
    const n = Math.max(0, Math.floor(policy.recent))
    const sorted = entries
      .filter((e) => !e.deleted)
      .sort((a, b) => b.updatedAt - a.updatedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    return new Set(sorted.slice(0, n).map((e) => e.id))
  }
  const pinned = typeof policy === 'object' ? new Set(policy.pinned) : null
  return new Set(entries.filter((e) => preloadsEntry(e, policy, pinned)).map((e) => e.id))
}

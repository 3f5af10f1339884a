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

/** The ids of the documents `policy` preloads among `entries` (a pure function of the catalogue). */
export const choosePreload = <M extends Fields>(
  entries: readonly CatalogueRecord<M>[],
  policy: PreloadPolicy<M> | undefined,
): Set<string> => {
  const live = entries.filter((e) => !e.deleted)
  if (policy === undefined) return new Set()
  if (policy === 'all') return new Set(live.map((e) => e.id))
  if (typeof policy === 'function') {
    const out = new Set<string>()
    for (const e of live) {
      // An app predicate that throws preloads nothing for that entry: junk metadata never stops the workspace.
      try {
        if (policy(e)) out.add(e.id)
      } catch {
        continue
      }
    }
    return out
  }
  if ('pinned' in policy) {
    const pinned = new Set(policy.pinned)
    return new Set(live.filter((e) => pinned.has(e.id)).map((e) => e.id))
  }
  const n = Math.max(0, Math.floor(policy.recent))
  const sorted = [...live].sort(
    (a, b) => b.updatedAt - a.updatedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  )
  return new Set(sorted.slice(0, n).map((e) => e.id))
}

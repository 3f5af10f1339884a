import type { Fields } from '@weft/core'
import type { CatalogueRecord } from './catalogue.js'
import { choosePreload, preloadsEntry, type PreloadPolicy } from './preloadPolicy.js'

/** `a` ranks before `b` under `{ recent: n }`: later `updatedAt` first, ties by id. */
const before = (a: { id: string; at: number }, b: { id: string; at: number }): boolean =>
  a.at > b.at || (a.at === b.at && a.id < b.id)

/**
 * The preload set of a workspace kept up to date from the changed record ids of each catalogue change, so that a
 * change reads only its own records (issue #15): no policy reads nothing; `'all'`, `pinned` and a predicate decide
 * per record; `{ recent: n }` keeps the `updatedAt` of every live record and re-ranks only when a change can alter
 * the first `n`. Always equal to `choosePreload` over the whole catalogue.
 */
export class PreloadSet<M extends Fields> {
  readonly #policy: PreloadPolicy<M> | undefined
  readonly #read: (id: string) => CatalogueRecord<M> | undefined
  readonly #pinned: ReadonlySet<string> | null
  /** `{ recent: n }` only: `updatedAt` of every live record. */
  readonly #live = new Map<string, number>()
  #ids = new Set<string>()

  /** `records`: the whole catalogue (read once); `read`: one record by id. */
  constructor(
    policy: PreloadPolicy<M> | undefined,
    records: readonly CatalogueRecord<M>[],
    read: (id: string) => CatalogueRecord<M> | undefined,
  ) {
    this.#policy = policy
    this.#read = read
    this.#pinned = typeof policy === 'object' && 'pinned' in policy ? new Set(policy.pinned) : null
    if (policy === undefined) return
    this.#ids = choosePreload(records, policy)
    if (this.#recent() !== null) for (const e of records) if (!e.deleted) this.#live.set(e.id, e.updatedAt)
  }

  /** The ids of the preloaded documents (do not mutate). */
  get ids(): ReadonlySet<string> {
    return this.#ids
  }

  /** Whether document `id` is preloaded. */
  has(id: string): boolean {
    return this.#ids.has(id)
  }

  /** Applies a change of the records `changed`; returns the ids that entered and left the set. */
  apply(changed: Iterable<string>): { readonly entered: string[]; readonly left: string[] } {
    const entered: string[] = []
    const left: string[] = []
    if (this.#policy === undefined) return { entered, left }
    const n = this.#recent()
    if (n !== null) return this.#applyRecent(changed, n)
    for (const id of changed) {
      const e = this.#pinned && !this.#pinned.has(id) ? undefined : this.#read(id) // pinned: read only its ids
      const now = e !== undefined && preloadsEntry(e, this.#policy, this.#pinned)
      if (now === this.#ids.has(id)) continue
      if (now) {
        this.#ids.add(id)
        entered.push(id)
      } else {
        this.#ids.delete(id)
        left.push(id)
      }
    }
    return { entered, left }
  }

  #recent(): number | null {
    const p = this.#policy
    return typeof p === 'object' && 'recent' in p ? Math.max(0, Math.floor(p.recent)) : null
  }

  #applyRecent(changed: Iterable<string>, n: number): { entered: string[]; left: string[] } {
    // The weakest preloaded record: a change ranking below it, of a record not preloaded, alters nothing.
    let weakest: { id: string; at: number } | null = null
    for (const id of this.#ids) {
      const at = this.#live.get(id) ?? 0
      if (weakest === null || before(weakest, { id, at })) weakest = { id, at }
    }
    let rerank = false
    for (const id of changed) {
      const e = this.#read(id)
      if (!e || e.deleted) this.#live.delete(id)
      else this.#live.set(id, e.updatedAt)
      const at = this.#live.get(id)
      if (this.#ids.has(id)) rerank = true
      else if (
        n > 0 &&
        at !== undefined &&
        (this.#ids.size < n || weakest === null || before({ id, at }, weakest))
      )
        rerank = true
    }
    if (!rerank) return { entered: [], left: [] }
    const ranked = [...this.#live].map(([id, at]) => ({ id, at }))
    ranked.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0))
    const next = new Set(ranked.slice(0, n).map((e) => e.id))
    const entered = [...next].filter((id) => !this.#ids.has(id))
    const left = [...this.#ids].filter((id) => !next.has(id))
    this.#ids = next
    return { entered, left }
  }
}

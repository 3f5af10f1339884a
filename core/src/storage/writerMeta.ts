import * as random from 'lib0/random'

/**
 * Per-writer metadata keys (docs/spec/storage.md, STORE-9.7). Two writers of one store (two processes on one SQLite
 * file, two browser tabs on one IndexedDB database) each keep their own key `<base>:<writer>` and write only it, so
 * no writer's entry is ever overwritten by another's: a reader combines every writer's entry. The key `<base>` with
 * no writer suffix is the entry of a store written before STORE-9.7 (writer `''`): read like any other writer's.
 */

/** A fresh writer id: one per session writing a document (a `PendingCount`, an `OwnClients`). */
export const newWriterId = (): string => random.uint32().toString(36) + random.uint32().toString(36)

/** The key of `writer`'s entry for `base` (`''`: the pre-STORE-9.7 key `base` itself). */
export const writerKey = (base: string, writer: string): string =>
  writer === '' ? base : `${base}:${writer}`

/** Every writer's entry for `base` in `meta`, as `[writer, value]` (writer `''`: the pre-STORE-9.7 key). */
export const writerEntries = <V extends string | null>(
  meta: Readonly<Record<string, V>>,
  base: string,
): Array<readonly [string, V]> => {
  const out: Array<readonly [string, V]> = []
  const prefix = `${base}:`
  for (const [key, value] of Object.entries(meta)) {
    if (key === base) out.push(['', value])
    else if (key.startsWith(prefix) && key.length > prefix.length) out.push([key.slice(prefix.length), value])
  }
  return out
}

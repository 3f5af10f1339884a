import { writerEntries } from '../storage/writerMeta.js'

/**
 * The values every writer stored (or an append carries) for the meta key `base` (`PENDING_META.local`,
 * `OWN_CLIENTS_META`...), one per writer key, the pre-STORE-9.7 key included (docs/spec/storage.md, STORE-9.7).
 * `undefined` when there is none; the one value when there is one writer; else all of them joined by `|`.
 */
export const writerValue = (
  meta: Readonly<Record<string, string | null>> | undefined,
  base: string,
): string | null | undefined => {
  const values = meta ? writerEntries(meta, base).map(([, value]) => value) : []
  return values.length === 0 ? undefined : values.length === 1 ? values[0] : values.join('|')
}

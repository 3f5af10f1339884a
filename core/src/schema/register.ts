/**
 * The multi-value register behind `.keepConflicts()` fields.
 *
 * Each writer stores its write under its own key `"<field>@<clientID>"` as `{ n, v, s }`: a Lamport counter `n`,
 * the value `v`, and `s`, the counters of every entry the writer saw (and so supersedes). Writers never write the
 * same key concurrently, so Yjs never drops one of them. An entry is visible unless another entry saw it; the
 * value is the visible entry with the highest `(n, client)`; more than one visible entry is a conflict, and every
 * peer computes the same visible set from the same entries. A write supersedes everything visible and deletes the
 * entries it superseded (a concurrent newer entry of the same writer is a new Yjs item and survives the delete).
 * The plain key `"<field>"` mirrors the last write so that raw readers and older schemas see a value.
 */
import type * as Y from 'yjs'

/** One writer's entry in a register. */
export interface RegisterEntry {
  /** The writer's Yjs clientID. */
  readonly client: number
  /** Lamport counter of the write. */
  readonly n: number
  /** The value written (already checked against the field). */
  readonly v: unknown
  /** Counters of the entries the writer saw, by clientID. */
  readonly s: { readonly [client: string]: number }
}

/** The state of a register as read. */
export interface RegisterState {
  /** Entries in winner-first order among the visible ones; empty when the field was never written as a register. */
  readonly visible: readonly RegisterEntry[]
  /** Every well-formed entry, visible or not. */
  readonly entries: readonly RegisterEntry[]
  /** Malformed entries (kept in the doc, ignored here). */
  readonly malformed: ReadonlyArray<{ readonly key: string; readonly value: unknown }>
}

const isCounterMap = (x: unknown): x is { readonly [client: string]: number } =>
  typeof x === 'object' &&
  x !== null &&
  !Array.isArray(x) &&
  Object.values(x).every((n) => typeof n === 'number')

/**
 * The register entry stored under `"<field>@<client>"` (`client`: the key's part after `@`), or `undefined` when it is
 * malformed (the client part is no safe integer, the value no `{ n, v, s }`, or `v` fails `test`). The one reading of
 * an entry: {@link readRegister} and the rules' check of what a writer stores (RULES-2.8) use it.
 */
export const registerEntry = (
  client: string,
  raw: unknown,
  test: (v: unknown) => boolean,
): RegisterEntry | undefined => {
  const id = Number(client)
  const e = raw as Partial<Record<'n' | 'v' | 's', unknown>> | null
  if (
    client !== '' &&
    Number.isSafeInteger(id) &&
    typeof e === 'object' &&
    e !== null &&
    typeof e.n === 'number' &&
    isCounterMap(e.s) &&
    test(e.v)
  )
    return { client: id, n: e.n, v: e.v, s: e.s }
  return undefined
}

/** Reads the register of `field` in `map`; entries whose value fails `test` count as malformed. Never throws. */
export const readRegister = (
  map: Y.Map<unknown>,
  field: string,
  test: (v: unknown) => boolean,
): RegisterState => {
  const prefix = `${field}@`
  const entries: RegisterEntry[] = []
  const malformed: Array<{ key: string; value: unknown }> = []
  for (const [key, raw] of map.entries()) {
    if (!key.startsWith(prefix)) continue
    const entry = registerEntry(key.slice(prefix.length), raw, test)
    if (entry) entries.push(entry)
    else malformed.push({ key, value: raw })
  }
  if (entries.length === 0) return { visible: entries, entries, malformed }
  const visible = entries.filter(
    (e) => !entries.some((f) => f !== e && (f.s[String(e.client)] ?? Number.NEGATIVE_INFINITY) >= e.n),
  )
  visible.sort((a, b) => b.n - a.n || b.client - a.client)
  return { visible, entries, malformed }
}

/** Writes `value` as `client`'s entry, superseding every current entry; deletes the superseded entries. */
export const writeRegister = (
  map: Y.Map<unknown>,
  field: string,
  value: unknown,
  client: number,
  state: RegisterState,
): void => {
  // Start from what this writer saw before, so a superseded entry whose deletion is late stays superseded.
  const own = state.entries.find((e) => e.client === client)
  const s: Record<string, number> = { ...own?.s }
  let n = 0
  for (const e of state.entries) {
    s[String(e.client)] = Math.max(e.n, s[String(e.client)] ?? 0)
    if (e.n > n) n = e.n
  }
  for (const e of state.entries) if (e.client !== client) map.delete(`${field}@${e.client}`)
  map.set(`${field}@${client}`, { n: n + 1, v: value, s })
  map.set(field, value)
}

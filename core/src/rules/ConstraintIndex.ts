import {
  samePlain,
  type Constraint,
  type PlainRecord,
  type RecordChange,
  type RulesVerdict,
} from '../schema/rules.js'
import { refuse } from './refuse.js'

type Unique = Extract<Constraint, { kind: 'unique' }>
type Sum = Extract<Constraint, { kind: 'sum' }>

/**
 * A bucket key for a plain value: deep-equal values (`samePlain`) always get the same key; values that are not equal
 * rarely do (then the bucket's values are compared with `samePlain`).
 */
const keyOf = (value: unknown): string => {
  switch (typeof value) {
    case 'string':
      return `s${value}`
    case 'number':
      return `n${value}`
    case 'boolean':
      return `b${value}`
    default:
      return `j${stable(value)}`
  }
}

const stable = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stable((value as Record<string, unknown>)[k])}`).join(',')}}`
  }
  return typeof value === 'string' ? JSON.stringify(value) : String(value)
}

/** Whether a record this update did not change (not in `changed`) holds `value`; `held`: a bucket (id -> value). */
const heldElsewhere = (
  held: ReadonlyMap<string, unknown> | undefined,
  changed: ReadonlySet<string>,
  value: unknown,
): boolean => {
  if (!held) return false
  for (const [id, v] of held) if (!changed.has(id) && samePlain(v, value)) return true
  return false
}

const view = new DataView(new ArrayBuffer(8))

/** `x` (finite) times 2^1074, exactly: an integer, since no double has bits below 2^-1074. */
const scaled = (x: number): bigint => {
  view.setFloat64(0, x)
  const hi = view.getUint32(0)
  const exponent = (hi >>> 20) & 0x7ff
  const mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(view.getUint32(4))
  const magnitude = exponent === 0 ? mantissa : (mantissa | (1n << 52n)) << BigInt(exponent - 1)
  return hi >>> 31 ? -magnitude : magnitude
}

/** A scaled integer (`scaled`) as the nearest double. */
const unscaled = (v: bigint): number => {
  const negative = v < 0n
  const m = negative ? -v : v
  const shift = Math.max(0, m.toString(2).length - 64)
  // The scale in two factors, so that neither overflows nor underflows on its own.
  const e = shift - 1074
  const x = Number(m >> BigInt(shift)) * 2 ** Math.ceil(e / 2) * 2 ** Math.floor(e / 2)
  return negative ? -x : x
}

/**
 * The sum of a collection's numbers in one field, kept exactly (no rounding that depends on the order of additions):
 * the finite numbers as one scaled integer, the infinities and NaNs counted.
 */
class Total {
  finite = 0n
  up = 0
  down = 0
  nan = 0

  add(value: unknown, sign: 1 | -1): void {
    if (typeof value !== 'number') return
    if (Number.isNaN(value)) this.nan += sign
    else if (value === Infinity) this.up += sign
    else if (value === -Infinity) this.down += sign
    else if (value !== 0) this.finite += sign === 1 ? scaled(value) : -scaled(value)
  }

  /** Whether the total lies outside `[min, max]` (NaN never does, as with a plain sum). */
  outside(min: number, max: number): boolean {
    if (this.nan > 0 || (this.up > 0 && this.down > 0)) return false
    if (this.up > 0) return max < Infinity
    if (this.down > 0) return min > -Infinity
    return (min > -Infinity && this.finite < scaled(min)) || (max < Infinity && this.finite > scaled(max))
  }

  /** The total as a number (for messages). */
  get value(): number {
    if (this.nan > 0 || (this.up > 0 && this.down > 0)) return NaN
    if (this.up > 0) return Infinity
    if (this.down > 0) return -Infinity
    return unscaled(this.finite)
  }

  copy(): Total {
    const t = new Total()
    t.finite = this.finite
    t.up = this.up
    t.down = this.down
    t.nan = this.nan
    return t
  }
}

/**
 * Indexes over the accepted records that make a constraint check (RULES-3) cost what the update touched, not what the
 * collection holds: for each `unique` constraint the ids holding each value, for each `sum` constraint the running
 * total. Kept by a {@link RulesView} in step with its records ({@link ConstraintIndex.set}); {@link
 * ConstraintIndex.check} decides a constraint over an update's changes exactly as a scan of every record after the
 * change would.
 */
export class ConstraintIndex {
  /** Per `unique` constraint: value key -> id -> value, for the records holding a value. */
  readonly #holders = new Map<Unique, Map<string, Map<string, unknown>>>()
  readonly #totals = new Map<Sum, Total>()
  readonly #byCollection = new Map<string, Constraint[]>()

  /** `records`: the accepted records of the constraints' collections, by collection and id. */
  constructor(
    constraints: readonly Constraint[],
    records: (collection: string) => ReadonlyMap<string, PlainRecord> | undefined,
  ) {
    for (const k of constraints) {
      let list = this.#byCollection.get(k.collection)
      if (!list) this.#byCollection.set(k.collection, (list = []))
      list.push(k)
      if (k.kind === 'unique') this.#holders.set(k, new Map())
      else this.#totals.set(k, new Total())
    }
    for (const [collection, list] of this.#byCollection) {
      for (const r of records(collection)?.values() ?? []) for (const k of list) this.#add(k, r.id, r)
    }
  }

  /** Record `id` of `collection` went from `before` to `after` (either `undefined`: absent) in the accepted state. */
  set(collection: string, id: string, before: PlainRecord | undefined, after: PlainRecord | undefined): void {
    for (const k of this.#byCollection.get(collection) ?? []) {
      if (before) this.#remove(k, id, before)
      if (after) this.#add(k, id, after)
    }
  }

  #add(k: Constraint, id: string, r: PlainRecord): void {
    const value = r[k.field]
    if (k.kind === 'sum') return (this.#totals.get(k) as Total).add(value, 1)
    if (value === undefined || value === null) return
    const holders = this.#holders.get(k) as Map<string, Map<string, unknown>>
    const key = keyOf(value)
    let ids = holders.get(key)
    if (!ids) holders.set(key, (ids = new Map()))
    ids.set(id, value)
  }

  #remove(k: Constraint, id: string, r: PlainRecord): void {
    const value = r[k.field]
    if (k.kind === 'sum') return (this.#totals.get(k) as Total).add(value, -1)
    if (value === undefined || value === null) return
    const holders = this.#holders.get(k) as Map<string, Map<string, unknown>>
    const key = keyOf(value)
    const ids = holders.get(key)
    ids?.delete(id)
    if (ids?.size === 0) holders.delete(key)
  }

  /**
   * RULES-3: whether constraint `k` holds after `changes` (the update's changed records, `before` as this index holds
   * them): `null`, or the refusal a scan of the collection after the change gives. Costs O(changes) for records whose
   * values are not shared.
   */
  check(k: Constraint, changes: readonly RecordChange[]): RulesVerdict | null {
    const touched = changes.filter((c) => c.collection === k.collection)
    if (touched.length === 0) return null
    if (k.kind === 'sum') {
      const total = (this.#totals.get(k) as Total).copy()
      for (const c of touched) {
        if (c.before) total.add(c.before[k.field], -1)
        if (c.after) total.add(c.after[k.field], 1)
      }
      if (!total.outside(k.min, k.max)) return null
      const c = touched[0] as RecordChange
      return refuse(
        k.id,
        [c.collection, c.id, k.field],
        `the ${k.field} of ${k.collection} would add up to ${total.value}`,
      )
    }
    // After the change: the records this update did not change hold what the index says, the changed ones their
    // `after`.
    const changed = new Set<string>()
    const after = new Map<string, RecordChange[]>()
    for (const c of touched) {
      changed.add(c.id)
      const value = c.after?.[k.field]
      if (value === undefined || value === null) continue
      const key = keyOf(value)
      const list = after.get(key)
      if (list) list.push(c)
      else after.set(key, [c])
    }
    const holders = this.#holders.get(k) as Map<string, Map<string, unknown>>
    for (const c of touched) {
      const value = c.after?.[k.field]
      if (value === undefined || value === null) continue
      const key = keyOf(value)
      const clash =
        (after.get(key) ?? []).some((o) => o.id !== c.id && samePlain(o.after?.[k.field], value)) ||
        heldElsewhere(holders.get(key), changed, value)
      if (clash)
        return refuse(k.id, [c.collection, c.id, k.field], `${k.field} ${JSON.stringify(value)} is taken`)
    }
    return null
  }
}

import * as Y from 'yjs'
import {
  applyObserved,
  checkChanges,
  readRuleCollection,
  readRuleRecord,
  samePlain,
  touchedRecords,
  type PlainRecord,
  type RecordChange,
  type Rules,
  type RulesVerdict,
  type Writer,
} from '../schema/rules.js'
import { validateUpdate, type UpdateSummary } from '../protocol/validateUpdate.js'
import { ConstraintIndex } from './ConstraintIndex.js'
import { refuse } from './refuse.js'
import { UpdateScreen } from './UpdateScreen.js'

/**
 * A collection's records after a change, read through: the view's records with the changed ones laid over them (no
 * copy of the collection per update).
 */
class Overlay implements ReadonlyMap<string, PlainRecord> {
  readonly #base: ReadonlyMap<string, PlainRecord>
  /** The changed records: their value after the change, `undefined` when deleted. */
  readonly #changed: ReadonlyMap<string, PlainRecord | undefined>

  constructor(base: ReadonlyMap<string, PlainRecord>, changed: ReadonlyMap<string, PlainRecord | undefined>) {
    this.#base = base
    this.#changed = changed
  }

  get(id: string): PlainRecord | undefined {
    return this.#changed.has(id) ? this.#changed.get(id) : this.#base.get(id)
  }
  has(id: string): boolean {
    return this.get(id) !== undefined
  }
  get size(): number {
    let n = 0
    for (const _ of this.keys()) n++
    return n
  }
  *entries(): MapIterator<[string, PlainRecord]> {
    for (const [id, r] of this.#base) if (!this.#changed.has(id)) yield [id, r]
    for (const [id, r] of this.#changed) if (r !== undefined) yield [id, r]
  }
  *keys(): MapIterator<string> {
    for (const [id] of this.entries()) yield id
  }
  *values(): MapIterator<PlainRecord> {
    for (const [, r] of this.entries()) yield r
  }
  [Symbol.iterator](): MapIterator<[string, PlainRecord]> {
    return this.entries()
  }
  forEach(fn: (value: PlainRecord, key: string, map: ReadonlyMap<string, PlainRecord>) => void): void {
    for (const [id, r] of this.entries()) fn(r, id, this)
  }
}

/**
 * The formatting of the text fields of record `id` (their deltas, where a text holds formatted runs; `''` when none
 * does): what a record's plain value (text as a string) leaves out, compared by RULES-5.5.
 */
const textMarks = (doc: Y.Doc, rules: Rules, collection: string, id: string): string => {
  const c = rules.schema.statics.get(collection)
  const map = doc.getMap<unknown>(collection).get(id)
  if (c?.field.kind !== 'collection' || !(map instanceof Y.Map)) return ''
  let out = ''
  for (const [key, def] of c.field.record.entries) {
    if (def.kind !== 'text') continue
    const text = (map as Y.Map<unknown>).get(key)
    if (!(text instanceof Y.Text)) continue
    const delta = text.toDelta() as Array<{ attributes?: unknown }>
    if (delta.some((d) => d.attributes !== undefined)) out += JSON.stringify([key, delta])
  }
  return out
}

/** The rule id of an update that leaves structs or deletions pending: it depends on clocks the view lacks (RULES-4.4). */
export const DEPENDS_ON_REJECTED = 'depends-on-rejected'

/**
 * The validating view of one ruled document (RULES-4.1, RULES-6.2): a `Y.Doc` holding the accepted state, plus the
 * valid records of the collections the rules look at ("before" of the next change). {@link RulesView.check} applies
 * an update, works out the records it changed and checks them; an accepted update stays in the view, a refused one
 * leaves the view {@link RulesView.broken} (the owner builds a new view from the accepted state: refusals are the
 * rare path, RULES-4.2). {@link RulesView.follow} takes an update that was accepted elsewhere (a local change, an
 * update of an authority) without checking it. The relay keeps one per ruled room, a `SyncSession` with `rules` one
 * per document. Runs in browsers and Node (no Node built-in).
 */
export class RulesView {
  readonly #rules: Rules
  readonly #doc = new Y.Doc()
  /** Valid records of the ruled and watched collections, by collection and id. */
  readonly #records = new Map<string, Map<string, PlainRecord>>()
  /** The formatting of the text fields of those records, by collection and id (RULES-5.5: formats are no plain value). */
  readonly #marks = new Map<string, Map<string, string>>()
  /** The constraints' indexes over {@link RulesView.#records} (RULES-3 checked in O(changed records)). */
  readonly #index: ConstraintIndex
  #broken = false

  /**
   * `state`: the accepted state, as one V1 update (empty for an empty document) or as the V1 updates that make it up
   * (a room's log parts, applied in one transaction: no merge of the whole state first, RULES-4.9).
   */
  constructor(rules: Rules, state: Uint8Array | readonly Uint8Array[]) {
    this.#rules = rules
    // Top-level types get their declared kinds before anything is applied (a generic type is re-created later).
    for (const [name, c] of rules.schema.statics) {
      const kind = c.field.kind
      if (kind === 'text') this.#doc.getText(name)
      else if (kind === 'richText') this.#doc.getXmlFragment(name)
      else if (kind === 'list') this.#doc.getArray(name)
      else this.#doc.getMap(name)
    }
    const parts = state instanceof Uint8Array ? [state] : state
    Y.transact(this.#doc, () => {
      for (const part of parts) if (part.byteLength > 0) Y.applyUpdate(this.#doc, part)
    })
    for (const name of this.#mirrored()) {
      const records = readRuleCollection(this.#doc, rules, name)
      this.#records.set(name, records)
      const marks = new Map<string, string>()
      for (const id of records.keys()) {
        const m = textMarks(this.#doc, rules, name, id)
        if (m !== '') marks.set(id, m)
      }
      this.#marks.set(name, marks)
    }
    this.#index = new ConstraintIndex(rules.constraints, (collection) => this.#records.get(collection))
  }

  /**
   * Whether `update` needs clocks the view lacks (its writer's earlier updates were refused or lost): structs of a
   * client that start past the view's clock of that client, or a deletion of a range past it (counting what the
   * update itself brings). Applied, it could only stay pending. Seen without applying anything, so the view stays
   * usable (RULES-6.2).
   */
  skips(update: Uint8Array): boolean {
    // The update's clock ranges and deletions from a walk of it (no decode of its content into structs, RULES-4.8);
    // one it cannot walk is left to the check (which refuses what Yjs cannot apply).
    let walked: UpdateSummary
    try {
      walked = validateUpdate(update, { skim: true, clocks: true, deleteSet: true })
    } catch {
      return false
    }
    const reach = new Map<number, number>()
    const known = (client: number): number => reach.get(client) ?? Y.getState(this.#doc.store, client)
    const runs = walked.clocks ?? []
    for (let i = 0; i + 2 < runs.length; i += 3) {
      const client = runs[i] as number
      const clock = runs[i + 1] as number
      const have = known(client)
      // Within a run each struct starts where the one before ends: only its first can start past the view.
      if (clock > have) return true
      reach.set(client, Math.max(have, runs[i + 2] as number))
    }
    for (const [client, ranges] of walked.deleteSet ?? []) {
      const have = known(client)
      for (const range of ranges) if (range.clock + range.len > have) return true
    }
    return false
  }

  /** A refused update is in the view: it must not check anything more. */
  get broken(): boolean {
    return this.#broken
  }

  /** Drops the view's document. */
  destroy(): void {
    this.#doc.destroy()
  }

  #mirrored(): Set<string> {
    return new Set([...this.#rules.collections.keys(), ...this.#rules.watched])
  }

  /** Applies `update` to the view, returning the transactions it ran; `null` (and the view broken) if Yjs refuses it. */
  #apply(update: Uint8Array, during?: (tr: Y.Transaction) => void): Y.Transaction[] | Error {
    try {
      return applyObserved(this.#doc, update, during)
    } catch (err) {
      this.#broken = true
      return err instanceof Error ? err : new Error(String(err))
    }
  }

  /**
   * Applies `update` of `writer` and checks the records it changed (RULES-2, RULES-3, RULES-4.4, RULES-4.5). On
   * acceptance the view holds the update; on refusal the view is broken. An update that leaves structs or deletions
   * pending is refused as {@link DEPENDS_ON_REJECTED}.
   */
  check(update: Uint8Array, writer: Writer): RulesVerdict {
    if (this.#broken) throw new Error('RulesView: a broken view checks nothing')
    const screen = new UpdateScreen(this.#rules.schema, this.#doc)
    const transactions = this.#apply(update, (tr) => screen.visit(tr))
    if (transactions instanceof Error)
      return refuse('schema', [], `the update cannot be applied: ${transactions.message}`)
    const verdict = this.#judge(screen, writer)
    if (!verdict.ok) this.#broken = true
    return verdict
  }

  /**
   * Takes `update` as accepted without checking it (RULES-6.2: a local change, an update of an authority): the view
   * keeps in step with the document it guards. An update Yjs refuses breaks the view.
   */
  follow(update: Uint8Array): void {
    if (this.#broken) return
    const transactions = this.#apply(update)
    if (transactions instanceof Error) return
    const touched = touchedRecords(this.#rules, this.#doc, transactions)
    if (!touched.ok) return
    for (const [collection, ids] of touched.records) {
      const records = this.#records.get(collection)
      if (!records) continue
      for (const id of ids)
        this.#take(collection, id, readRuleRecord(this.#doc, this.#rules, collection, id).record)
    }
  }

  #judge(screen: UpdateScreen, writer: Writer): RulesVerdict {
    const store = this.#doc.store
    if (store.pendingStructs !== null || store.pendingDs !== null) {
      // RULES-4.4: it depends on clocks the view does not have (a rejected update of the same client).
      return refuse(
        DEPENDS_ON_REJECTED,
        [],
        'the update depends on changes the relay does not have (an earlier rejected change)',
      )
    }
    // RULES-2.7, 2.8, 4.5, 4.10: every item inserted or deleted, placed by the schema.
    const touched = screen.result()
    if (!(touched instanceof Map)) return touched as RulesVerdict
    const changes: RecordChange[] = []
    for (const [collection, ids] of touched) {
      const before = this.#records.get(collection)
      for (const [id, mark] of ids) {
        const now = readRuleRecord(this.#doc, this.#rules, collection, id)
        const was = before?.get(id)
        // RULES-5.5: a record whose plain value did not change, changed by plain content that stays, is untouched
        // (a rollback restoring a field); any other change under it runs its rules.
        if (
          mark.plain &&
          was !== undefined &&
          now.invalid === undefined &&
          samePlain(was, now.record) &&
          (this.#marks.get(collection)?.get(id) ?? '') === textMarks(this.#doc, this.#rules, collection, id)
        )
          continue
        changes.push({ collection, id, before: was, after: now.record, invalid: now.invalid })
      }
    }
    if (changes.length === 0) return { ok: true }
    const changed = new Map<string, Map<string, PlainRecord | undefined>>()
    for (const c of changes) {
      let m = changed.get(c.collection)
      if (!m) changed.set(c.collection, (m = new Map()))
      m.set(c.id, c.after)
    }
    const read = (collection: string): ReadonlyMap<string, PlainRecord> =>
      new Overlay(this.#records.get(collection) ?? new Map(), changed.get(collection) ?? new Map())
    const verdict = checkChanges(this.#rules, writer, changes, read, (k, cs) => this.#index.check(k, cs))
    if (!verdict.ok) return verdict
    for (const c of changes) this.#take(c.collection, c.id, c.after)
    return verdict
  }

  /** Record `id` of `collection` is `now` (`undefined`: absent or invalid) in the accepted state. */
  #take(collection: string, id: string, now: PlainRecord | undefined): void {
    const records = this.#records.get(collection)
    if (!records) return
    const marks = this.#marks.get(collection)
    const m = now ? textMarks(this.#doc, this.#rules, collection, id) : ''
    if (m !== '') marks?.set(id, m)
    else marks?.delete(id)
    const was = records.get(id)
    if (was === now) return
    if (now) records.set(id, now)
    else records.delete(id)
    this.#index.set(collection, id, was, now)
  }
}

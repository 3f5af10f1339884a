import * as Y from 'yjs'
import { RESERVED_PREFIX, type Schema } from '../schema/defineSchema.js'
import type { FieldDef, Fields, ItemField, RecordField } from '../schema/fields.js'
import { registerEntry } from '../schema/register.js'
import type { RulesVerdict } from '../schema/rules.js'
import type { PathSegment } from '../schema/types.js'
import { forEachChangedItem, placeOf, rootNames } from './changedItems.js'
import { refuse } from './refuse.js'
import { checkReserved, reservedChange, type ReservedChange } from './reserved.js'

/** What a place in the document holds, by the schema. */
type Holder =
  | { readonly kind: 'collection'; readonly record: RecordField<Fields> }
  | { readonly kind: 'record'; readonly record: RecordField<Fields>; readonly isStatic: boolean }
  | { readonly kind: 'text' }
  | { readonly kind: 'richText' }
  | { readonly kind: 'list'; readonly item: ItemField }
  /** A plain value, or a conflict register's entry: holds nothing. */
  | { readonly kind: 'leaf' }

const holderOfRoot = (field: FieldDef): Holder => {
  switch (field.kind) {
    case 'collection':
      return { kind: 'collection', record: field.record }
    case 'record':
      return { kind: 'record', record: field, isStatic: true }
    case 'list':
      return { kind: 'list', item: field.item }
    case 'text':
      return { kind: 'text' }
    case 'richText':
      return { kind: 'richText' }
    case 'value':
      return { kind: 'leaf' }
  }
}

/** The type a content holds when it is exactly `ctor` (not a subclass: a `Y.XmlText` is no plain `Y.Text`). */
const typeIs = (content: Y.Item['content'], ctor: abstract new (...args: never[]) => unknown): boolean =>
  content instanceof Y.ContentType && (content.type as object).constructor === ctor

/** The holder inside a nested type of declaration `def`, or why the content is not that type. */
const nestedHolder = (def: FieldDef, content: Y.Item['content']): Holder | string => {
  switch (def.kind) {
    case 'text':
      return typeIs(content, Y.Text) ? { kind: 'text' } : 'a text field holds a Y.Text'
    case 'richText':
      return typeIs(content, Y.XmlFragment) ? { kind: 'richText' } : 'a rich-text field holds a Y.XmlFragment'
    case 'list':
      return typeIs(content, Y.Array) ? { kind: 'list', item: def.item } : 'a list field holds a Y.Array'
    case 'record':
      return typeIs(content, Y.Map)
        ? { kind: 'record', record: def, isStatic: false }
        : 'a record holds a Y.Map'
    case 'value':
      return 'a plain value field holds no nested type'
    case 'collection':
      return 'a collection is a top-level type'
  }
}

/**
 * The plain values an item holds for a map key (RULES-2.8): one, or a run of values the key held in turn (Yjs merges a
 * key's consecutive sets by one client, the overwritten ones deleted, into one item: a field set three times
 * offline). `undefined` for anything else.
 */
const keyValues = (content: Y.Item['content']): readonly unknown[] | undefined =>
  content instanceof Y.ContentAny && content.arr.length > 0 ? content.arr : undefined

/** Rich text as editors write it: text, formatting, embeds, attributes, XML elements and XML text. */
const richContent = (content: Y.Item['content']): boolean =>
  content instanceof Y.ContentString ||
  content instanceof Y.ContentFormat ||
  content instanceof Y.ContentEmbed ||
  content instanceof Y.ContentAny ||
  typeIs(content, Y.XmlElement) ||
  typeIs(content, Y.XmlText)

/**
 * One step down: `item` sits in a place holding `holder`. Returns what `item` holds (for the next step), or why the
 * schema declares no such content there. `last`: `item` is the changed item itself (`content` checked when
 * `inserted`); otherwise it holds the next item of the chain.
 */
const step = (
  holder: Holder,
  item: Y.Item,
  last: boolean,
  inserted: boolean,
): { readonly holder: Holder; readonly plain: boolean } | string => {
  const content = item.content
  // An item inserted already deleted carries nothing; a deletion is judged by where it is, not by what it held.
  const check = last && inserted && !(content instanceof Y.ContentDeleted)
  const key = item.parentSub
  switch (holder.kind) {
    case 'collection': {
      if (key === null) return 'content without a map key'
      if (check && !typeIs(content, Y.Map)) return 'a record is a Y.Map'
      return { holder: { kind: 'record', record: holder.record, isStatic: false }, plain: true }
    }
    case 'record': {
      if (key === null) return 'content without a map key'
      const def = holder.record.field(key)
      if (def === undefined) {
        // A conflict register's entry "<field>@<client>" of a field that keeps conflicts (RULES-2.8).
        const at = key.lastIndexOf('@')
        const field = at < 0 ? undefined : holder.record.field(key.slice(0, at))
        if (field?.kind !== 'value' || !field.keepsConflicts) return `"${key}" is no field of the record`
        if (!last) return 'a register entry holds no nested content'
        if (check) {
          const values = keyValues(content)
          if (
            values === undefined ||
            values.some(
              (value) => registerEntry(key.slice(at + 1), value, (v) => field.test(v)) === undefined,
            )
          )
            return `a malformed conflict-register entry (expected { n, v: ${field.describe()}, s })`
        }
        return { holder: { kind: 'leaf' }, plain: false }
      }
      if (def.kind === 'value') {
        if (!last) return 'a plain value holds no nested content'
        if (check) {
          const values = keyValues(content)
          if (values === undefined || !values.every((v) => def.test(v))) return `expected ${def.describe()}`
        }
        return { holder: { kind: 'leaf' }, plain: true }
      }
      // A root record's text, list and record fields are top-level types of their own ("record.field").
      if (holder.isStatic) return `"${key}" is stored as a top-level type of its own`
      if (!check && !(content instanceof Y.ContentType)) return { holder: { kind: 'leaf' }, plain: true }
      const next = nestedHolder(def, content)
      return typeof next === 'string' ? next : { holder: next, plain: true }
    }
    case 'text':
      if (key !== null) return 'plain text has no attributes'
      if (!last) return 'plain text holds no nested type'
      // Y.Text's own formatting (as y-quill writes it) is allowed; RULES-5.5 compares it (the record's text marks).
      if (check && !(content instanceof Y.ContentString) && !(content instanceof Y.ContentFormat))
        return 'a text field holds text and its formatting only (no embed, attribute or nested type)'
      return { holder: { kind: 'leaf' }, plain: true }
    case 'richText':
      if (check && !richContent(content))
        return 'rich text holds text, formatting, embeds and XML elements only'
      return { holder: { kind: 'richText' }, plain: true }
    case 'list': {
      if (key !== null) return 'a list has no keys'
      const def = holder.item
      if (def.kind === 'record') {
        if (check && !typeIs(content, Y.Map)) return 'a list item here is a record (Y.Map)'
        return { holder: { kind: 'record', record: def, isStatic: false }, plain: true }
      }
      if (!last) return 'a list item here is a plain value'
      if (check && !(content instanceof Y.ContentAny && content.arr.every((v) => def.test(v))))
        return `a list item here is ${def.describe()}`
      return { holder: { kind: 'leaf' }, plain: true }
    }
    case 'leaf':
      return 'a plain value holds no nested content'
  }
}

/** What one collection record was changed by, as far as RULES-5.5 asks. */
interface RecordMark {
  /** Every change under it holds plain content that stays: inserted items live, no register entry (RULES-5.5). */
  plain: boolean
}

/**
 * The screen of one update (RULES-2.7, 2.8, 4.5, 4.10): {@link UpdateScreen.visit} is called with each transaction
 * applying the update ran, before its cleanup (`applyObserved`'s `during`); it walks every item inserted or deleted
 * and places it by the schema. The outcome: the first content the schema does not declare (a refusal), or the
 * collection records the update touched (an item inserted or deleted anywhere under them) and whether each changed
 * plain content only. Changes of Weft's own types are checked by {@link checkReserved} at the end.
 */
export class UpdateScreen {
  readonly #schema: Schema
  readonly #doc: Y.Doc
  readonly #names: Map<unknown, string>
  readonly #records = new Map<string, Map<string, RecordMark>>()
  readonly #reserved: ReservedChange[] = []
  #refusal: RulesVerdict | null = null

  constructor(schema: Schema, doc: Y.Doc) {
    this.#schema = schema
    this.#doc = doc
    this.#names = rootNames(doc)
  }

  /** Walks the items `tr` inserted and deleted. */
  visit(tr: Y.Transaction): void {
    if (this.#refusal !== null) return
    try {
      forEachChangedItem(tr, (item, inserted) => {
        if (this.#refusal === null) this.#refusal = this.#place(item, inserted)
      })
    } catch (err) {
      // Never throw into Yjs's cleanup: what cannot be placed is refused.
      this.#refusal = refuse(
        'schema',
        [],
        `the update cannot be read: ${err instanceof Error ? err.message : String(err)}`,
      )
    }
  }

  /** The first refusal, or the records touched (collection → id → whether only plain content changed). */
  result(): RulesVerdict | ReadonlyMap<string, ReadonlyMap<string, RecordMark>> {
    if (this.#refusal !== null) return this.#refusal
    const reserved = checkReserved(this.#schema, this.#reserved)
    return reserved ?? this.#records
  }

  #place(item: Y.Item, inserted: boolean): RulesVerdict | null {
    let root = this.#names.get(placeRoot(item))
    if (root === undefined) {
      // A root type created after the screen started (an undeclared name): name it now.
      for (const [name, type] of this.#doc.share) this.#names.set(type, name)
      root = this.#names.get(placeRoot(item)) as string
    }
    const { chain, dead } = placeOf(item, this.#names)
    if (root.startsWith(RESERVED_PREFIX)) {
      this.#reserved.push(reservedChange(root, chain, inserted))
      return null
    }
    const declared = this.#schema.statics.get(root)
    if (declared === undefined) return refuse('undeclared', [root], `"${root}" is not declared by the schema`)
    let holder = holderOfRoot(declared.field)
    let plain = !(inserted && dead)
    const path: PathSegment[] = [root]
    for (let i = 0; i < chain.length; i++) {
      const it = chain[i] as Y.Item
      if (it.parentSub !== null) path.push(it.parentSub)
      const next = step(holder, it, i === chain.length - 1, inserted)
      if (typeof next === 'string') {
        const collection = declared.field.kind === 'collection' ? root : root.split('.')[0]
        return refuse(`${collection}.schema`, path, next)
      }
      plain &&= next.plain
      holder = next.holder
    }
    if (declared.field.kind === 'collection') {
      const id = (chain[0] as Y.Item).parentSub as string
      let ids = this.#records.get(root)
      if (!ids) this.#records.set(root, (ids = new Map()))
      const mark = ids.get(id)
      if (mark) mark.plain &&= plain
      else ids.set(id, { plain })
    }
    return null
  }
}

/** The root type an item is under. */
const placeRoot = (item: Y.Item): unknown => {
  let parent = item.parent as Y.AbstractType<unknown>
  while (parent._item !== null) parent = parent._item.parent as Y.AbstractType<unknown>
  return parent
}

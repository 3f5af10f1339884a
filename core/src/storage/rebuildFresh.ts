import * as Y from 'yjs'

/**
 * One run of provenance (COMPACT-3.2): `length` consecutive clocks of the rebuilt document's writer, starting at
 * `newClock`, hold the content of the old items `(oldClient, oldClock .. oldClock + length - 1)`.
 */
export interface ProvenanceRun {
  readonly newClock: number
  readonly length: number
  readonly oldClient: number
  readonly oldClock: number
}

/** What {@link rebuildFresh} returns. */
export interface RebuiltDoc {
  /** A new document with the same content and no history (no deleted items). */
  readonly doc: Y.Doc
  /** The rebuilt document's only writer. */
  readonly clientId: number
  /** Where each piece of content came from in the old document. */
  readonly provenance: ProvenanceRun[]
}

/** Options of {@link rebuildFresh}. */
export interface RebuildOptions {
  /** Client id that writes the new document (COMPACT-3.3 makes it deterministic per epoch). Default: random. */
  readonly clientId?: number
}

type AnyType = Y.AbstractType<unknown>
type Pair = readonly [source: AnyType, target: AnyType]

/** An empty type of the same kind as `t`, to be filled once integrated. */
const twinOf = (t: AnyType): AnyType => {
  if (t instanceof Y.XmlHook) return new Y.XmlHook(t.hookName) as AnyType
  if (t instanceof Y.XmlText) return new Y.XmlText() as AnyType
  if (t instanceof Y.XmlElement) return new Y.XmlElement(t.nodeName) as AnyType
  if (t instanceof Y.XmlFragment) return new Y.XmlFragment() as AnyType
  if (t instanceof Y.Text) return new Y.Text() as AnyType
  if (t instanceof Y.Array) return new Y.Array() as AnyType
  return new Y.Map() as AnyType
}

/** Which concrete type a root placeholder (a type decoded but never asked for with `getMap`...) is. */
const rootKind = (t: AnyType): (new () => AnyType) | null => {
  if (t instanceof Y.Text || t instanceof Y.Array || t instanceof Y.Map || t instanceof Y.XmlFragment)
    return null
  for (let item = t._start; item !== null; item = item.right) {
    if (item.deleted) continue
    const c = item.content
    if (c instanceof Y.ContentString || c instanceof Y.ContentFormat || c instanceof Y.ContentEmbed) {
      return Y.Text as unknown as new () => AnyType
    }
    if (c instanceof Y.ContentType && c.type instanceof Y.XmlFragment) {
      return Y.XmlFragment as unknown as new () => AnyType
    }
    if (c instanceof Y.ContentType && c.type instanceof Y.XmlText)
      return Y.XmlFragment as unknown as new () => AnyType
    return Y.Array as unknown as new () => AnyType
  }
  for (const item of t._map.values()) if (!item.deleted) return Y.Map as unknown as new () => AnyType
  return null
}

class Copier {
  readonly pairs: Pair[] = []

  /** A value as it will be inserted into the new document; types become empty twins filled later. */
  value(v: unknown): unknown {
    if (v instanceof Y.AbstractType) {
      const twin = twinOf(v as AnyType)
      this.pairs.push([v as AnyType, twin])
      return twin
    }
    if (v instanceof Y.Doc) return new Y.Doc({ guid: v.guid, meta: v.meta as unknown, autoLoad: v.autoLoad })
    return v
  }

  /** Copies the content of `source` into the (integrated, empty) `target` of the same kind. */
  fill(source: AnyType, target: AnyType): void {
    if (source instanceof Y.XmlText && target instanceof Y.XmlText) {
      this.attributes(source, target)
      this.text(source, target)
    } else if (source instanceof Y.Text && target instanceof Y.Text) {
      this.text(source, target)
    } else if (source instanceof Y.XmlHook && target instanceof Y.XmlHook) {
      source.forEach((v, k) => target.set(k, this.value(v)))
    } else if (source instanceof Y.XmlFragment && target instanceof Y.XmlFragment) {
      if (source instanceof Y.XmlElement && target instanceof Y.XmlElement) this.attributes(source, target)
      const children = source.toArray().map((child) => this.value(child) as Y.XmlElement | Y.XmlText)
      if (children.length > 0) target.insert(0, children)
    } else if (source instanceof Y.Array && target instanceof Y.Array) {
      const values = source.toArray().map((v) => this.value(v))
      if (values.length > 0) target.insert(0, values)
    } else if (source instanceof Y.Map && target instanceof Y.Map) {
      for (const [k, v] of source.entries()) target.set(k, this.value(v))
    }
  }

  text(source: Y.Text, target: Y.Text): void {
    const delta = (source.toDelta() as { insert: unknown; attributes?: Record<string, unknown> }[]).map(
      (op) => ({
        ...op,
        insert: typeof op.insert === 'string' ? op.insert : this.value(op.insert),
      }),
    )
    // Yjs's `sanitize: false` drops a final "\n" of the last insert (Quill's hidden paragraph); `true` (its default)
    // copies the text as it is, which a rebuild must (COMPACT-7.1).
    if (delta.length > 0) target.applyDelta(delta, { sanitize: true })
  }

  attributes(source: Y.XmlElement | Y.XmlText, target: Y.XmlElement | Y.XmlText): void {
    for (const [k, v] of Object.entries(source.getAttributes() as Record<string, unknown>)) {
      target.setAttribute(k, this.value(v) as string)
    }
  }
}

/** Pairs the live countable content of two sequences (and live map entries) into provenance runs. */
const align = (source: AnyType, target: AnyType, runs: ProvenanceRun[]): void => {
  const push = (newClock: number, length: number, oldClient: number, oldClock: number): void => {
    const last = runs.at(-1)
    if (
      last &&
      last.newClock + last.length === newClock &&
      last.oldClient === oldClient &&
      last.oldClock + last.length === oldClock
    ) {
      runs[runs.length - 1] = { ...last, length: last.length + length }
    } else {
      runs.push({ newClock, length, oldClient, oldClock })
    }
  }
  const live = (start: Y.Item | null): Y.Item[] => {
    const items: Y.Item[] = []
    for (let item = start; item !== null; item = item.right)
      if (!item.deleted && item.countable) items.push(item)
    return items
  }
  const from = live(source._start)
  const to = live(target._start)
  let i = 0
  let j = 0
  let fromOffset = 0
  let toOffset = 0
  while (i < from.length && j < to.length) {
    const a = from[i] as Y.Item
    const b = to[j] as Y.Item
    const n = Math.min(a.length - fromOffset, b.length - toOffset)
    push(b.id.clock + toOffset, n, a.id.client, a.id.clock + fromOffset)
    fromOffset += n
    toOffset += n
    if (fromOffset === a.length) [i, fromOffset] = [i + 1, 0]
    if (toOffset === b.length) [j, toOffset] = [j + 1, 0]
  }
  for (const [key, a] of source._map) {
    const b = target._map.get(key)
    if (!a.deleted && b && !b.deleted) push(b.id.clock, 1, a.id.client, a.id.clock)
  }
}

/**
 * History compaction's first step (docs/spec/compaction.md, COMPACT-3.3): copies the current content of `source`
 * into a new document written by one client, with no deleted items, and records where each piece came from.
 * Root types that were decoded but never asked for (`getMap`...) are given their concrete type on `source` first.
 */
export const rebuildFresh = (source: Y.Doc, options: RebuildOptions = {}): RebuiltDoc => {
  const doc = new Y.Doc()
  if (options.clientId !== undefined) doc.clientID = options.clientId
  const copier = new Copier()
  const roots: Pair[] = []
  for (const [name, placeholder] of [...source.share.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const kind = rootKind(placeholder as AnyType)
    const type = (kind ? source.get(name, kind) : placeholder) as AnyType
    if (type.constructor === Y.AbstractType) continue // decoded but empty: nothing to copy
    const target = doc.get(name, type.constructor as new () => AnyType) as AnyType
    roots.push([type, target])
  }
  doc.transact(() => {
    for (const [s, t] of roots) copier.fill(s, t)
    // Nested types were inserted as empty twins; fill them breadth-first (the list grows while we walk it).
    for (let k = 0; k < copier.pairs.length; k++) {
      const [s, t] = copier.pairs[k] as Pair
      copier.fill(s, t)
    }
  })
  const provenance: ProvenanceRun[] = []
  for (const [s, t] of [...roots, ...copier.pairs]) align(s, t, provenance)
  provenance.sort((a, b) => a.newClock - b.newClock)
  return { doc, clientId: doc.clientID, provenance }
}

/** The rollback tests' relay and writer (a plain Y.Doc each), shared by rollback.test.ts and the rich-text tests. */
import { equalityDeep } from 'lib0/function'
import { expect } from 'vitest'
import * as Y from 'yjs'
import { keepLocalDeletions, rollbackUpdates } from '../../src/sync/rollback.js'

export const REMOTE = 'remote'
export const RESTORE = 'restore'

/**
 * A relay (a plain Y.Doc that takes only accepted updates) and a writer whose local updates are recorded in order,
 * as a session keeps them until acknowledged.
 */
export const setup = (seed: (relay: Y.Doc) => void) => {
  const relay = new Y.Doc()
  seed(relay)
  const writer = new Y.Doc()
  keepLocalDeletions(writer, (origin) => origin !== REMOTE)
  Y.applyUpdate(writer, Y.encodeStateAsUpdate(relay), REMOTE)
  const sent: Uint8Array[] = []
  writer.on('update', (update: Uint8Array, origin: unknown) => {
    if (origin !== REMOTE) sent.push(update)
  })
  /** The writer's updates so far: `accept` the first `n` to the relay; the rest are pending. */
  const accept = (n: number) => {
    for (const u of sent.slice(0, n)) Y.applyUpdate(relay, u, REMOTE)
    return sent.slice(n)
  }
  /** Rolls back `pending[0]` (refused) and re-applies the rest; the restoring update goes to the relay. */
  const rollback = (pending: Uint8Array[]) => {
    const before = sent.length
    const X = writer.clientID
    const result = rollbackUpdates({
      doc: writer,
      rejected: pending[0] as Uint8Array,
      later: pending.slice(1),
      restoreOrigin: RESTORE,
    })
    const restoring = sent.slice(before)
    const out = [...restoring, ...(result.deletions ? [result.deletions] : [])]
    if (out.length > 0) Y.applyUpdate(relay, Y.mergeUpdates(out), REMOTE)
    return { result, X }
  }
  /** The writer's whole local history (what its store holds before a compaction), replayed into a fresh doc. */
  const replayed = (base: Uint8Array) => {
    const doc = new Y.Doc()
    for (const [name, type] of writer.share) doc.get(name, type.constructor as typeof Y.AbstractType)
    Y.applyUpdate(doc, base)
    for (const u of sent) Y.applyUpdate(doc, u)
    return doc
  }
  return { relay, writer, accept, rollback, replayed }
}

/** A value of a document as an editor shows it: text as its delta (formatting, embeds), XML with its attributes. */
export const rich = (value: unknown): unknown => {
  if (value instanceof Y.Text) {
    // Adjacent runs of equal attributes joined: a redundant format item (a mark set where it already holds) splits
    // Yjs's delta without changing what any character shows.
    const delta: Array<{ insert: unknown; attributes?: unknown }> = []
    for (const op of value.toDelta() as Array<{ insert: unknown; attributes?: unknown }>) {
      const last = delta[delta.length - 1]
      if (
        last &&
        typeof last.insert === 'string' &&
        typeof op.insert === 'string' &&
        equalityDeep(last.attributes, op.attributes)
      )
        last.insert += op.insert
      else delta.push({ ...op, insert: rich(op.insert) })
    }
    return value instanceof Y.XmlText ? { xmlText: delta, attrs: value.getAttributes() } : { text: delta }
  }
  if (value instanceof Y.XmlElement)
    return { element: value.nodeName, attrs: value.getAttributes(), children: value.toArray().map(rich) }
  if (value instanceof Y.XmlFragment) return { fragment: value.toArray().map(rich) }
  if (value instanceof Y.Map)
    return Object.fromEntries(
      [...value.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, rich(v)]),
    )
  if (value instanceof Y.Array) return value.toArray().map(rich)
  if (value instanceof Y.AbstractType) return value.toJSON()
  return value
}

/** Every top-level type of `doc`, {@link rich}. */
export const richState = (doc: Y.Doc): unknown =>
  Object.fromEntries(
    [...doc.share].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, type]) => [name, rich(type)]),
  )

/** RULES-5.4: the writer holds the relay's state; its state vector lacks X from c on; a third doc converges. */
export const expectConverged = (relay: Y.Doc, writer: Y.Doc, X: number, c: number | null) => {
  expect(writer.toJSON()).toEqual(relay.toJSON())
  expect(richState(writer)).toEqual(richState(relay))
  const sv = Y.decodeStateVector(Y.encodeStateVector(writer))
  if (c !== null) expect(sv.get(X) ?? 0).toBeLessThanOrEqual(c)
  // The relay's state and the writer's, synced both ways, agree (nothing pending on either side).
  Y.applyUpdate(relay, Y.encodeStateAsUpdate(writer, Y.encodeStateVector(relay)), REMOTE)
  Y.applyUpdate(writer, Y.encodeStateAsUpdate(relay, Y.encodeStateVector(writer)), REMOTE)
  expect(relay.store.pendingStructs).toBeNull()
  expect(writer.store.pendingStructs).toBeNull()
  expect(writer.toJSON()).toEqual(relay.toJSON())
  expect(richState(writer)).toEqual(richState(relay))
  // The writer's own state, encoded and loaded again (a reload from its store), is the same document.
  const reloaded = new Y.Doc()
  for (const [name, type] of writer.share) reloaded.get(name, type.constructor as typeof Y.AbstractType)
  Y.applyUpdateV2(reloaded, Y.encodeStateAsUpdateV2(writer))
  expect(reloaded.toJSON()).toEqual(writer.toJSON())
  expect(richState(reloaded)).toEqual(richState(writer))
  const third = new Y.Doc()
  for (const [name, type] of relay.share) third.get(name, type.constructor as typeof Y.AbstractType)
  Y.applyUpdate(third, Y.encodeStateAsUpdate(relay))
  expect(third.toJSON()).toEqual(relay.toJSON())
  expect(richState(third)).toEqual(richState(relay))
}

const MARKS: ReadonlyArray<Record<string, unknown>> = [
  {},
  { bold: true },
  { italic: true },
  { bold: true, italic: true },
  { link: { href: 'https://a' } },
  { color: 'red' },
]
const UNMARKS: ReadonlyArray<Record<string, unknown>> = [
  { bold: null },
  { italic: null },
  { link: null },
  { bold: true, color: 'blue' },
  { link: { href: 'https://b' } },
]

/** One random edit of `text`: an insert (with or without marks), an embed, a deletion, a format. */
export const randomEdit = (rnd: () => number, text: Y.Text) => {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T
  const at = Math.floor(rnd() * (text.length + 1))
  const len = Math.min(text.length - at, 1 + Math.floor(rnd() * 6))
  const op = rnd()
  if (op < 0.3 || len <= 0) {
    const word = pick(['a', 'bc', 'def ', ' ghij', 'klmno\n'])
    if (rnd() < 0.3) text.insert(at, word)
    else text.insert(at, word, { ...pick(MARKS) })
  } else if (op < 0.4) text.insertEmbed(at, { image: pick(['p.png', 'q.png']) }, { ...pick(MARKS) })
  else if (op < 0.65) text.delete(at, len)
  else text.format(at, len, { ...pick(rnd() < 0.5 ? MARKS : UNMARKS) })
}

import * as Y from 'yjs'
import { equalityDeep } from 'lib0/function'
import { ProvenanceIndex } from './epochProvenance.js'
import type { ProvenanceRun } from './rebuildFresh.js'

type AnyType = Y.AbstractType<unknown>
interface Mark {
  readonly item: Y.Item
  readonly key: string
  readonly value: unknown
}

/** Live format marks of a sequence, grouped by gap: the key is the new clock of the content before the gap. */
const gapsOf = (type: AnyType, gapKeyAfter: (item: Y.Item) => number | null): Map<string, Mark[]> => {
  const gaps = new Map<string, Mark[]>()
  let gap = 'start'
  for (let item = type._start; item !== null; item = item.right) {
    if (item.deleted) continue
    if (item.content instanceof Y.ContentFormat) {
      const marks = gaps.get(gap) ?? []
      marks.push({ item, key: item.content.key, value: item.content.value as unknown })
      gaps.set(gap, marks)
    } else if (item.countable) {
      const key = gapKeyAfter(item)
      if (key !== null) gap = String(key)
    }
  }
  return gaps
}

/** The last mark of each key, in the order of the gap. */
const lastPerKey = (marks: readonly Mark[]): Mark[] => {
  const last = new Map<string, Mark>()
  for (const m of marks) last.set(m.key, m)
  return marks.filter((m) => last.get(m.key) === m)
}

/**
 * Provenance of formatting marks (COMPACT-3.2). `rebuildFresh` rewrites a text's formatting as fresh marks, so its
 * provenance covers content only; an epoch also needs the marks, so that a peer's later formatting change (which
 * deletes old marks and inserts new ones) and its insertions next to a mark land on the same side of the mark in
 * the new epoch. In each gap between two pieces of content, the last old mark of a key maps to the new mark of the
 * same key and value, if there is one; mapped pairs keep their order in both documents (a pair that would cross
 * another is left out).
 */
export const formatProvenance = (
  source: Y.Doc,
  target: Y.Doc,
  provenance: readonly ProvenanceRun[],
): ProvenanceRun[] => {
  const index = new ProvenanceIndex(provenance)
  const pairs: [AnyType, AnyType][] = []
  for (const [name, t] of target.share) {
    const s = source.share.get(name)
    if (s) pairs.push([s as AnyType, t as AnyType])
  }
  for (const structs of target.store.clients.values()) {
    for (const struct of structs) {
      if (!(struct instanceof Y.Item) || !(struct.content instanceof Y.ContentType)) continue
      const old = index.toOld(struct.id.clock)
      if (!old) continue
      const sourceItem = Y.getItem(source.store, Y.createID(old.client, old.clock)) as Y.Item | Y.GC
      if (sourceItem instanceof Y.Item && sourceItem.content instanceof Y.ContentType) {
        pairs.push([sourceItem.content.type as AnyType, struct.content.type as AnyType])
      }
    }
  }
  const runs: ProvenanceRun[] = []
  for (const [s, t] of pairs) {
    const targetGaps = gapsOf(t, (item) => item.id.clock + item.length - 1)
    if (targetGaps.size === 0) continue
    const sourceGaps = gapsOf(s, (item) =>
      index.lastIn(item.id.client, item.id.clock, item.id.clock + item.length),
    )
    for (const [gap, sourceMarks] of sourceGaps) {
      const targetMarks = lastPerKey(targetGaps.get(gap) ?? [])
      let lastTargetIndex = -1
      for (const m of lastPerKey(sourceMarks)) {
        const j = targetMarks.findIndex((tm) => tm.key === m.key && equalityDeep(tm.value, m.value))
        if (j <= lastTargetIndex) continue
        lastTargetIndex = j
        const newItem = targetMarks[j] as Mark
        runs.push({
          newClock: newItem.item.id.clock,
          length: 1,
          oldClient: m.item.id.client,
          oldClock: m.item.id.clock,
        })
      }
    }
  }
  return runs
}

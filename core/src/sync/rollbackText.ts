import { equalityDeep } from 'lib0/function'
import * as Y from 'yjs'

/**
 * Rich text in a rollback (RULES-5.9): a Y.Text (or Y.XmlText) holds its formatting as format items between the
 * characters (a mark from there on, `null` ending it). A rollback that re-creates text also gives it back the
 * attributes it had, and brings back the formatting of the text it keeps: the format items the refused update deleted
 * or inserted, and those of the later updates (removed with the retired client id), decide what each character shows.
 */

/** A text's attributes at a point (Yjs's delta `attributes`). */
export type TextAttributes = Record<string, unknown>

/** A run of a text's content as it should read after the rollback: its length, its text (`null`: embeds), attributes. */
export interface TextRun {
  readonly len: number
  readonly str: string | null
  readonly attrs: TextAttributes
}

/**
 * Walks `text` as it reads when exactly the units for which `visible(item, offset)` holds are shown, format items
 * included (the same walk as Yjs's `toDelta`, over a visibility of the caller's: content a rollback restores counts,
 * the refused content does not): `run` gets each visible stretch `[from, to)` of a countable item with the attributes
 * it has there.
 */
export const walkText = (
  text: Y.Text,
  visible: (item: Y.Item, offset: number) => boolean,
  run: (item: Y.Item, from: number, to: number, attrs: TextAttributes) => void,
): void => {
  let attrs: TextAttributes = {}
  for (let it = text._start; it !== null; it = it.right) {
    const content = it.content
    if (content instanceof Y.ContentFormat) {
      if (!visible(it, 0)) continue
      attrs = { ...attrs }
      if (content.value === null) delete attrs[content.key]
      else attrs[content.key] = content.value
      continue
    }
    if (!it.countable) continue
    let from = -1
    for (let i = 0; i <= it.length; i++) {
      const shown = i < it.length && visible(it, i)
      if (shown && from < 0) from = i
      else if (!shown && from >= 0) {
        run(it, from, i, attrs)
        from = -1
      }
    }
  }
}

/** The runs of `text` under `visible` (see {@link walkText}), adjacent ones of the same attributes merged. */
export const textRuns = (text: Y.Text, visible: (item: Y.Item, offset: number) => boolean): TextRun[] => {
  const runs: TextRun[] = []
  walkText(text, visible, (item, from, to, attrs) => {
    const str = item.content instanceof Y.ContentString ? item.content.str.slice(from, to) : null
    const last = runs[runs.length - 1]
    if (last && last.attrs === attrs && last.str !== null && str !== null)
      runs[runs.length - 1] = { len: last.len + str.length, str: last.str + str, attrs }
    else runs.push({ len: to - from, str, attrs })
  })
  return runs
}

/** The attributes at `index` of `runs` (none past the end). */
export const attributesAt = (runs: readonly TextRun[], index: number): TextAttributes => {
  let at = 0
  for (const run of runs) {
    if (index < at + run.len) return run.attrs
    at += run.len
  }
  return {}
}

/** What to pass to `format` to turn `from` into `to` (`null` removes a mark), or null when they are equal. */
const difference = (from: TextAttributes, to: TextAttributes): TextAttributes | null => {
  const out: TextAttributes = {}
  let any = false
  for (const [key, value] of Object.entries(to))
    if (!equalityDeep(from[key], value)) {
      out[key] = value
      any = true
    }
  for (const key of Object.keys(from))
    if (!(key in to)) {
      out[key] = null
      any = true
    }
  return any ? out : null
}

/** The runs of `text` as it reads now (its delta, with the same run shape as {@link textRuns}). */
const currentRuns = (text: Y.Text): TextRun[] =>
  (text.toDelta() as Array<{ insert: unknown; attributes?: TextAttributes }>).map((op) =>
    typeof op.insert === 'string'
      ? { len: op.insert.length, str: op.insert, attrs: op.attributes ?? {} }
      : { len: 1, str: null, attrs: op.attributes ?? {} },
  )

/**
 * Formats `text` so that every character has the attributes `target` gives it. Only when the text's content is the
 * target's (the same characters and embeds in the same order): otherwise nothing is changed and `false` returned (the
 * rollback could not re-create some content, RULES-5.4's `lost`).
 */
export const reformat = (text: Y.Text, target: readonly TextRun[]): boolean => {
  const now = currentRuns(text)
  const flat = (runs: readonly TextRun[]) => runs.map((r) => r.str ?? '\u0000'.repeat(r.len)).join('')
  // An embed counts as one unit that no string holds ('\u0000' stands for it on both sides).
  const same = (runs: readonly TextRun[]) => runs.every((r) => r.str === null || !r.str.includes('\u0000'))
  if (!same(now) || !same(target) || flat(now) !== flat(target)) return false
  const edits: Array<{ index: number; len: number; attrs: TextAttributes }> = []
  let i = 0
  let j = 0
  let usedI = 0
  let usedJ = 0
  let index = 0
  while (i < now.length && j < target.length) {
    const a = now[i]!
    const b = target[j]!
    const len = Math.min(a.len - usedI, b.len - usedJ)
    const diff = difference(a.attrs, b.attrs)
    if (diff !== null) {
      const last = edits[edits.length - 1]
      if (last && last.index + last.len === index && equalityDeep(last.attrs, diff)) last.len += len
      else edits.push({ index, len, attrs: diff })
    }
    index += len
    usedI += len
    usedJ += len
    if (usedI === a.len) [i, usedI] = [i + 1, 0]
    if (usedJ === b.len) [j, usedJ] = [j + 1, 0]
  }
  for (const e of edits) text.format(e.index, e.len, e.attrs)
  return true
}

import type * as Y from 'yjs'

/** Applies the difference between `before` and `after` (one contiguous change) to `text`. */
const applyDiff = (text: Y.Text, before: string, after: string): void => {
  let start = 0
  while (start < before.length && start < after.length && before[start] === after[start]) start++
  let endB = before.length
  let endA = after.length
  while (endB > start && endA > start && before[endB - 1] === after[endA - 1]) {
    endB--
    endA--
  }
  text.doc?.transact(() => {
    if (endB > start) text.delete(start, endB - start)
    if (endA > start) text.insert(start, after.slice(start, endA))
  })
}

/**
 * A textarea over a sticky note, bound to its Y.Text: typing writes the difference, remote edits update the
 * textarea (keeping the caret where it was, shifted by edits before it). Closes on Escape or blur.
 */
export class StickyEditor {
  readonly id: string
  readonly textarea: HTMLTextAreaElement
  readonly #text: Y.Text
  #value: string
  readonly #onClose: () => void
  #closed = false

  constructor(
    host: HTMLElement,
    id: string,
    text: Y.Text,
    box: { x: number; y: number; w: number; h: number },
    readOnly: boolean,
    onClose: () => void,
  ) {
    this.id = id
    this.#text = text
    this.#onClose = onClose
    this.#value = text.toString()
    const ta = document.createElement('textarea')
    ta.className = 'sticky-editor'
    ta.dataset['testid'] = 'sticky-editor'
    ta.value = this.#value
    ta.readOnly = readOnly
    Object.assign(ta.style, {
      left: `${box.x}px`,
      top: `${box.y}px`,
      width: `${box.w}px`,
      height: `${box.h}px`,
    })
    ta.addEventListener('input', () => {
      applyDiff(this.#text, this.#value, ta.value)
      this.#value = ta.value
    })
    ta.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.close()
    })
    ta.addEventListener('blur', () => this.close())
    this.textarea = ta
    text.observe(this.#onRemote)
    host.append(ta)
    ta.focus()
  }

  readonly #onRemote = (event: Y.YTextEvent): void => {
    if (event.transaction.local) return
    const ta = this.textarea
    let caret = ta.selectionStart
    let index = 0
    for (const d of event.delta) {
      if (d.retain !== undefined) index += d.retain
      else if (typeof d.insert === 'string') {
        if (index <= caret) caret += d.insert.length
        index += d.insert.length
      } else if (d.delete !== undefined) {
        if (index < caret) caret -= Math.min(d.delete, caret - index)
      }
    }
    this.#value = this.#text.toString()
    ta.value = this.#value
    ta.setSelectionRange(caret, caret)
  }

  /** Removes the textarea (once). */
  close(): void {
    // Removing the focused textarea fires `blur`, which calls close() again before remove() returns.
    if (this.#closed) return
    this.#closed = true
    this.#text.unobserve(this.#onRemote)
    this.textarea.remove()
    this.#onClose()
  }
}

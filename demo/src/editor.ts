import { Compartment, EditorState } from '@codemirror/state'
import { drawSelection, EditorView, highlightActiveLine, keymap, lineNumbers } from '@codemirror/view'
import { markdown } from '@codemirror/lang-markdown'
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next'
import * as Y from 'yjs'
import type { Awareness } from 'y-protocols/awareness'

/** A mounted collaborative editor. */
export interface MountedEditor {
  readonly view: EditorView
  /** Read-only while the document cannot be written (e.g. `upgrade-required`). */
  setReadOnly(readOnly: boolean): void
  destroy(): void
}

/**
 * CodeMirror 6 bound to a Y.Text with y-codemirror.next: edits sync both ways, remote carets and selections are
 * drawn from awareness (`user.name`, `user.color`), undo is per user (a Y.UndoManager on this text).
 */
export const mountEditor = (
  parent: HTMLElement,
  text: Y.Text,
  awareness: Awareness,
  readOnly: boolean,
): MountedEditor => {
  const undoManager = new Y.UndoManager(text)
  const editable = new Compartment()
  const rules = (ro: boolean) => [EditorState.readOnly.of(ro), EditorView.editable.of(!ro)]
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: text.toString(),
      extensions: [
        keymap.of(yUndoManagerKeymap),
        lineNumbers(),
        drawSelection(),
        highlightActiveLine(),
        EditorView.lineWrapping,
        markdown(),
        yCollab(text, awareness, { undoManager }),
        editable.of(rules(readOnly)),
      ],
    }),
  })
  let current = readOnly
  return {
    view,
    // Only on a change: awareness events (which call this) also fire during the editor's own updates.
    setReadOnly: (ro) => {
      if (ro === current) return
      current = ro
      queueMicrotask(() => view.dispatch({ effects: editable.reconfigure(rules(ro)) }))
    },
    destroy: () => {
      view.destroy()
      undoManager.destroy()
    },
  }
}

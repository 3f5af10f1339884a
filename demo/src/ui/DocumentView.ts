import { Whiteboard } from '../board/Whiteboard.js'
import { mountEditor, type MountedEditor } from '../editor.js'
import { CloseCode, newerCollaborators } from '../schemaApi.js'
import type { DemoSession } from '../session.js'

/**
 * Shows on the board what the relay refused under its rules anyway (a write made around the board model, or rules
 * newer than this page's): a `rejected` message (SyncSession's `rejected` event, for a client that rolls back), or
 * the connection closed with `4405 UpdateRejected` (a client that cannot). Returns an unsubscribe function.
 */
const relayRefusals = ({ handle, board }: DemoSession): (() => void) => {
  const onRejected = ({ reason }: { readonly reason: string }) =>
    board.tellRefused(`${reason} (refused by the server)`)
  const onClosed = ({ code }: { readonly code: number }) => {
    if (code === CloseCode.UpdateRejected)
      board.tellRefused('The server refused a change under its rules and stopped syncing this document.')
  }
  handle.session.on('rejected', onRejected)
  handle.on('connection-error', onClosed)
  return () => {
    handle.session.off('rejected', onRejected)
    handle.off('connection-error', onClosed)
  }
}

/** Where a document is shown. */
export interface DocumentSlots {
  readonly editor: HTMLElement
  readonly board: HTMLElement
  readonly banner: HTMLElement
  readonly title: HTMLInputElement
}

/**
 * One open document on screen: the editor on its text, the whiteboard on its shapes, the title, and the banner
 * that explains a read-only document (`upgrade-required`) or a collaborator on a newer schema.
 */
export class DocumentView {
  readonly editor: MountedEditor
  readonly board: Whiteboard
  readonly #session: DemoSession
  readonly #slots: DocumentSlots
  readonly #offs: Array<() => void> = []

  constructor(session: DemoSession, slots: DocumentSlots, onTitle: (title: string) => void) {
    this.#session = session
    this.#slots = slots
    const { typed, handle } = session
    this.editor = mountEditor(slots.editor, session.body, handle.awareness, !typed.writable)
    this.board = new Whiteboard(slots.board, session.board, handle.awareness)
    const showTitle = () => {
      const title = typed.root.meta.get('title')
      if (document.activeElement !== slots.title) slots.title.value = title
      onTitle(title)
    }
    const setTitle = () => typed.root.meta.set('title', slots.title.value.trim() || 'Untitled')
    slots.title.addEventListener('change', setTitle)
    this.#offs.push(() => slots.title.removeEventListener('change', setTitle))
    this.#offs.push(typed.root.meta.observe(showTitle))
    showTitle()
    this.#offs.push(relayRefusals(session))
    const banner = () => this.#banner()
    typed.on('status', banner)
    handle.awareness.on('change', banner)
    this.#offs.push(() => typed.off('status', banner))
    this.#offs.push(() => handle.awareness.off('change', banner))
    banner()
  }

  #banner(): void {
    const { typed, handle } = this.#session
    const lines: string[] = []
    if (typed.status === 'upgrade-required') {
      lines.push(
        `This document was upgraded to v${typed.documentVersion} by a newer version of the app; this page knows ` +
          `v${typed.schema.version}, so it shows the document read-only. Reload with the newer version to edit.`,
      )
    } else if (typed.status !== 'ready') lines.push(`This document is read-only here (${typed.status}).`)
    const newer = newerCollaborators(handle.awareness, typed.schema)
    if (newer.length > 0) {
      lines.push(
        `A collaborator uses a newer version (v${Math.max(...newer.map((c) => c.version))}) of this app.`,
      )
    }
    this.#slots.banner.textContent = lines.join(' ')
    this.#slots.banner.hidden = lines.length === 0
    this.#slots.banner.dataset['schemaStatus'] = typed.status
    this.editor.setReadOnly(!typed.writable)
    this.#slots.title.readOnly = !typed.writable
  }

  destroy(): void {
    for (const off of this.#offs.splice(0)) off()
    this.board.destroy()
    this.editor.destroy()
    this.#slots.banner.hidden = true
  }
}

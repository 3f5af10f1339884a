import type { SyncStatus, Workspace, WorkspaceEntry, WorkspaceProgress } from '@weft/providers'
import { shareLink } from '../docList.js'
import type { LargeWorkspaceProgress } from '../largeWorkspace.js'
import { h } from './h.js'

/** A row of the list: a document of the demo's workspace (no app metadata beyond the title). */
type Entry = WorkspaceEntry<Record<never, never>>

/** What the list asks the page to do. */
export interface DocListActions {
  /** "New document": create one and open it. */
  create(): void
  /** Rename document `id` (its catalogue title). */
  rename(id: string, title: string): void
  /** Delete document `id` (a tombstone in the catalogue). */
  delete(id: string): void
  /** "Large workspace": create many small documents. */
  large(): void
}

/** Height of one row in pixels: rows are fixed-height so that only the visible ones are rendered. */
export const ROW_HEIGHT = 28
/** Height of the scrolling list in pixels. */
const LIST_HEIGHT = 280
/** Rows rendered above and below the visible ones. */
const OVERSCAN = 6
/**
 * While the list keeps changing (thousands of documents being created), it is read again at most this often: one
 * read of `workspace.list.entries` costs O(n) catalogue reads after each change (about 0.1 s for 2,000 documents on
 * a busy machine). Scrolling renders from the last read.
 */
const REREAD_MS = 400

const percent = (done: number, total: number): string =>
  total === 0 ? '' : `${Math.floor((done * 100) / total)}%`

/**
 * The document list: the catalogue of the demo's workspace (every document of this server, offline too), with
 * "New document", rename and delete per row, "Large workspace" with its progress, the workspace's status and
 * background sync progress, and the share link of the open document. Only the visible rows are in the DOM (a
 * virtual list over `workspace.list.entries`), so thousands of documents scroll and update without stalls.
 */
export class DocListView {
  readonly element: HTMLElement
  readonly #scroller = h('div', {
    class: 'doc-scroll',
    'data-testid': 'doc-scroll',
    style: `height:${LIST_HEIGHT}px;overflow-y:auto;position:relative`,
  })
  readonly #list = h('ul', { class: 'docs', 'data-testid': 'doc-list', style: 'position:relative;margin:0' })
  readonly #count = h('span', { class: 'muted', 'data-testid': 'doc-count' })
  readonly #status = h('p', { class: 'muted', 'data-testid': 'workspace-status' })
  readonly #syncBar = h('progress', { 'data-testid': 'workspace-progress', max: '1', value: '0', hidden: '' })
  readonly #large = h('button', { 'data-testid': 'large-workspace' }, 'Large workspace')
  readonly #largeBar = h('progress', { 'data-testid': 'large-progress', max: '1', value: '0', hidden: '' })
  readonly #largeText = h('span', { class: 'muted', 'data-testid': 'large-progress-text' })
  readonly #link = h('input', { readonly: '', 'data-testid': 'share-link', 'aria-label': 'Share link' })
  readonly #copied = h('span', { class: 'muted' })
  readonly #actions: DocListActions
  #workspace: Workspace | null = null
  #entries: ReadonlyArray<Entry> = []
  #current: string | null = null
  #editing: { id: string; input: HTMLInputElement } | null = null
  #frame = 0
  /** The list changed since the last read of its entries. */
  #dirty = true
  #lastRead = 0
  #rereadTimer: ReturnType<typeof setTimeout> | null = null
  #wsStatus: { status: SyncStatus; pendingChanges: number } | null = null
  readonly #offs: Array<() => void> = []

  constructor(actions: DocListActions) {
    this.#actions = actions
    const create = h('button', { 'data-testid': 'new-doc' }, 'New document')
    create.addEventListener('click', () => actions.create())
    this.#large.addEventListener('click', () => actions.large())
    const copy = h('button', { 'data-testid': 'copy-link' }, 'Copy link')
    copy.addEventListener('click', () => void this.#copy())
    this.#scroller.append(this.#list)
    this.#scroller.addEventListener('scroll', () => this.#schedule(), { passive: true })
    this.#list.addEventListener('click', (e) => this.#onClick(e))
    this.element = h(
      'section',
      { class: 'panel' },
      h('h2', {}, 'Documents ', this.#count),
      h('div', { class: 'share' }, create, this.#large),
      h('div', { class: 'share' }, this.#largeBar, this.#largeText),
      this.#scroller,
      this.#status,
      this.#syncBar,
      h('div', { class: 'share' }, this.#link, copy, this.#copied),
    )
  }

  /** The entries the list shows (not deleted), newest first. */
  get entries(): ReadonlyArray<Entry> {
    return this.#entries
  }

  /** How many rows are in the DOM now (the visible ones and a few more). */
  get renderedRows(): number {
    return this.#list.children.length
  }

  /** Follows a workspace's list, status and progress (or none). */
  attach(workspace: Workspace | null): void {
    for (const off of this.#offs.splice(0)) off()
    this.#workspace = workspace
    this.#wsStatus = null
    this.#dirty = true
    if (workspace) {
      const onChange = () => this.#changed()
      const onStatus = (s: { status: SyncStatus; pendingChanges: number }) => {
        this.#wsStatus = s
        this.#schedule()
      }
      const onProgress = (p: WorkspaceProgress) => this.#showSync(p)
      workspace.list.on('change', onChange)
      workspace.on('status', onStatus)
      workspace.on('progress', onProgress)
      this.#offs.push(() => {
        workspace.list.off('change', onChange)
        workspace.off('status', onStatus)
        workspace.off('progress', onProgress)
      })
      this.#wsStatus = { status: workspace.status, pendingChanges: workspace.pendingChanges }
      this.#showSync(workspace.progress)
    }
    this.#render()
  }

  /** Highlights `current` (the open document) and shows its share link. */
  render(current: string | null): void {
    this.#current = current
    this.#link.value = current ? shareLink(current) : ''
    this.#copied.textContent = ''
    this.#render()
  }

  /** Shows the progress of "Large workspace" (null: hidden); the button is disabled while it runs. */
  showLarge(progress: LargeWorkspaceProgress | null, running: boolean, note = ''): void {
    this.#large.disabled = running
    this.#largeBar.hidden = progress === null
    if (progress) {
      this.#largeBar.max = progress.total
      this.#largeBar.value = progress.done
    }
    this.#largeText.textContent = progress
      ? `Created ${progress.done.toLocaleString('en')} / ${progress.total.toLocaleString('en')}${note ? ` ${note}` : ''}`
      : note
  }

  #showSync(p: WorkspaceProgress): void {
    const active = p.docs > 0 && p.docsDone < p.docs
    this.#syncBar.hidden = !active
    this.#syncBar.max = Math.max(1, p.docs)
    this.#syncBar.value = p.docsDone
    this.#syncBar.title = `Synced in the background: ${p.docsDone} / ${p.docs} documents`
    this.#syncBar.dataset['done'] = String(p.docsDone)
    this.#syncBar.dataset['total'] = String(p.docs)
    this.#schedule()
  }

  /** The list changed: read it again at once if it was quiet, else at most every {@link REREAD_MS}. */
  #changed(): void {
    this.#dirty = true
    if (this.#rereadTimer) return
    const wait = this.#lastRead + REREAD_MS - performance.now()
    if (wait <= 0) return this.#schedule()
    this.#rereadTimer = setTimeout(() => {
      this.#rereadTimer = null
      this.#schedule()
    }, wait)
  }

  /** At most one render per frame, however many changes arrive. */
  #schedule(): void {
    if (this.#frame) return
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0
      this.#render()
    })
  }

  #render(): void {
    const ws = this.#workspace
    // A re-read already planned (changes keep coming) is left to its timer: scrolling meanwhile costs no read.
    if (this.#dirty && !this.#rereadTimer) {
      this.#dirty = false
      this.#lastRead = performance.now()
      this.#entries = ws ? ws.list.entries : []
    }
    const n = this.#entries.length
    this.#count.textContent = ws ? `(${n.toLocaleString('en')})` : ''
    const st = this.#wsStatus
    const pending = st?.pendingChanges ?? 0
    const p = ws?.progress
    this.#status.textContent = !ws
      ? 'Opening the workspace…'
      : `Workspace ${st?.status ?? ws.status}` +
        (pending > 0 ? `, ${pending} change${pending === 1 ? '' : 's'} pending` : '') +
        (p && p.docs > 0 && p.docsDone < p.docs
          ? `, syncing ${p.docsDone} / ${p.docs} documents (${percent(p.bytesDone, p.bytes) || '…'})`
          : '')
    this.#status.dataset['status'] = st?.status ?? ''
    this.#list.style.height = `${n * ROW_HEIGHT}px`
    const top = this.#scroller.scrollTop
    const visible = Math.ceil((this.#scroller.clientHeight || LIST_HEIGHT) / ROW_HEIGHT)
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN)
    const last = Math.min(n, first + visible + 2 * OVERSCAN)
    const rows: HTMLElement[] = []
    for (let i = first; i < last; i++) {
      const e = this.#entries[i]
      if (e) rows.push(this.#row(e, i))
    }
    this.#list.replaceChildren(...rows)
    if (this.#editing && rows.some((r) => r.dataset['doc'] === this.#editing?.id)) this.#editing.input.focus()
  }

  #row(e: Entry, i: number): HTMLElement {
    const attrs: Record<string, string> = {
      'data-doc': e.id,
      style: `position:absolute;top:${i * ROW_HEIGHT}px;left:0;right:0;height:${ROW_HEIGHT}px;box-sizing:border-box`,
    }
    if (e.id === this.#current) attrs['class'] = 'current'
    const title =
      this.#editing?.id === e.id
        ? this.#editing.input
        : h(
            'a',
            {
              href: `#doc=${encodeURIComponent(e.id)}`,
              'data-doc': e.id,
              style: 'flex:1;min-width:0;white-space:nowrap',
              title: `${e.title || 'Untitled'}${e.local ? '' : ' (not on this device yet: fetched when opened)'}`,
            },
            e.title || 'Untitled',
          )
    return h(
      'li',
      attrs,
      h(
        'span',
        {
          class: 'muted',
          title: e.local ? 'stored on this device' : 'not on this device',
          'data-local': String(e.local),
        },
        e.stale ? '◌' : e.local ? '●' : '○',
      ),
      title,
      h(
        'button',
        {
          'data-action': 'rename',
          'data-testid': 'rename-doc',
          title: 'Rename',
          'aria-label': `Rename ${e.title}`,
        },
        '✎',
      ),
      h(
        'button',
        {
          'data-action': 'delete',
          'data-testid': 'delete-doc',
          title: 'Delete',
          'aria-label': `Delete ${e.title}`,
        },
        '×',
      ),
    )
  }

  #onClick(e: MouseEvent): void {
    const button = (e.target as HTMLElement).closest('button')
    const row = (e.target as HTMLElement).closest('li')
    const id = row?.dataset['doc']
    if (!button || !id) return
    if (button.dataset['action'] === 'delete') this.#actions.delete(id)
    else if (button.dataset['action'] === 'rename') this.#startRename(id)
  }

  #startRename(id: string): void {
    const entry = this.#entries.find((e) => e.id === id)
    if (!entry) return
    const input = h('input', {
      value: entry.title,
      'data-testid': 'rename-input',
      'aria-label': 'New title',
      style: 'flex:1;min-width:0',
    })
    let done = false
    const finish = (commit: boolean) => {
      if (done) return
      done = true
      this.#editing = null
      const title = input.value.trim()
      if (commit && title && title !== entry.title) this.#actions.rename(id, title)
      this.#render()
    }
    input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') finish(true)
      else if (ev.key === 'Escape') finish(false)
    })
    // A render moves the input (a blur while detached, then focused again): only a real blur commits, one after
    // which the input, still shown, no longer has the focus once the render is done.
    input.addEventListener('blur', () => {
      setTimeout(() => {
        if (input.isConnected && document.activeElement !== input) finish(true)
      }, 0)
    })
    this.#editing = { id, input }
    this.#render()
    input.select()
  }

  async #copy(): Promise<void> {
    this.#link.select()
    try {
      await navigator.clipboard.writeText(this.#link.value)
      this.#copied.textContent = 'Copied'
    } catch {
      this.#copied.textContent = 'Selected: press Ctrl+C'
    }
  }
}

import { listDocs, newDocId, shareLink } from '../docList.js'
import { h } from './h.js'

/** The document list (kept in this browser), "New document", and the share link of the open document. */
export class DocListView {
  readonly element: HTMLElement
  readonly #list = h('ul', { class: 'docs', 'data-testid': 'doc-list' })
  readonly #link = h('input', { readonly: '', 'data-testid': 'share-link', 'aria-label': 'Share link' })
  readonly #copied = h('span', { class: 'muted' })
  #current: string | null = null

  constructor() {
    const create = h('button', { 'data-testid': 'new-doc' }, 'New document')
    create.addEventListener('click', () => {
      location.hash = `doc=${newDocId()}`
    })
    const copy = h('button', { 'data-testid': 'copy-link' }, 'Copy link')
    copy.addEventListener('click', () => void this.#copy())
    this.element = h(
      'section',
      { class: 'panel' },
      h('h2', {}, 'Documents'),
      create,
      this.#list,
      h('div', { class: 'share' }, this.#link, copy, this.#copied),
    )
  }

  /** Shows the list with `current` highlighted. */
  render(current: string | null): void {
    this.#current = current
    this.#link.value = current ? shareLink(current) : ''
    this.#copied.textContent = ''
    this.#list.replaceChildren(
      ...listDocs().map((d) =>
        h(
          'li',
          d.id === this.#current ? { class: 'current' } : {},
          h('a', { href: `#doc=${encodeURIComponent(d.id)}`, 'data-doc': d.id }, d.title || 'Untitled'),
        ),
      ),
    )
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

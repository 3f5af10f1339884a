import type { WeftDoc } from '@weft/providers'
import { h } from './h.js'
import type { PresenceTracker } from './PresenceTracker.js'
import { presenceColor, presenceName } from './presenceFields.js'

/**
 * A peer's colour dot. The colour is another peer's input: checked (hex only) and set as one CSS property, never
 * written into a `style` attribute, so it cannot carry other declarations (issue 17).
 */
const colorDot = (color: unknown): HTMLElement => {
  const dot = h('span', { class: 'dot' })
  dot.style.backgroundColor = presenceColor(color)
  return dot
}

/** The "who is here" list, and the open peer paths of the document (`handle.paths`). */
export class PresenceView {
  readonly element: HTMLElement
  readonly #people = h('ul', { class: 'people', 'data-testid': 'presence' })
  readonly #paths = h('ul', { class: 'paths', 'data-testid': 'paths' })
  #off: (() => void) | null = null

  constructor() {
    this.element = h(
      'section',
      { class: 'panel' },
      h('h2', {}, 'Here now'),
      this.#people,
      h('h3', {}, 'Paths'),
      this.#paths,
    )
  }

  /** Follows another document (or none). */
  attach(tracker: PresenceTracker | null, handle: WeftDoc | null): void {
    this.#off?.()
    this.#off = null
    const render = () => {
      this.#people.replaceChildren(
        ...(tracker?.list() ?? []).map((c) =>
          h(
            'li',
            { 'data-client': String(c.clientID), 'data-self': String(c.self) },
            colorDot(c.color),
            c.self ? `${presenceName(c.name)} (you)` : presenceName(c.name),
            h(
              'span',
              { class: 'via' },
              c.self ? '' : c.via.length > 0 ? `via ${c.via.join(' + ')}` : 'via …',
            ),
          ),
        ),
      )
      const paths = handle?.paths ?? []
      this.#paths.replaceChildren(
        ...(paths.length === 0
          ? [h('li', { class: 'muted' }, 'no peer path open')]
          : paths.map((p) =>
              h(
                'li',
                { 'data-kind': p.kind },
                `${p.kind} ${p.kind === 'relay' ? '' : String(p.peer).slice(0, 8)} ${p.synced ? '✓' : '…'}`,
              ),
            )),
      )
    }
    if (tracker) this.#off = tracker.onChange(render)
    render()
  }
}

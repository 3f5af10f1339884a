import type { Awareness } from 'y-protocols/awareness'
import type { Box, BoardModel, NewShape } from './BoardModel.js'
import { createToolbar, PALETTE, type LockAction, type Tool } from './boardToolbar.js'
import { renderSelection, renderShape, strokeFrom, svg } from './renderBoard.js'
import { renderPresence, type BoardPresence } from './renderPresence.js'
import { StickyEditor } from './StickyEditor.js'

type Point = { readonly x: number; readonly y: number }
type Drag =
  | { kind: 'create'; tool: 'rect' | 'ellipse' | 'sticky'; from: Point; to: Point }
  | { kind: 'pen'; points: number[] }
  | { kind: 'move'; from: Point; origins: Map<string, Point> }
  | { kind: 'resize'; id: string; from: Point; box: Box }
  | { kind: 'marquee'; from: Point; to: Point; base: Set<string> }
  | { kind: 'edit'; id: string }

const DEFAULT_SIZE = {
  rect: { w: 140, h: 90 },
  ellipse: { w: 120, h: 90 },
  sticky: { w: 160, h: 120 },
} as const
const MIN = 10

const boxOf = (a: Point, b: Point): Box => ({
  x: Math.min(a.x, b.x),
  y: Math.min(a.y, b.y),
  w: Math.abs(a.x - b.x),
  h: Math.abs(a.y - b.y),
})
const intersects = (a: Box, b: Box): boolean =>
  a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h

/**
 * The SVG whiteboard: draws the shapes of a {@link BoardModel}, creates, moves, resizes, recolours and deletes them
 * (one transaction per gesture step), multi-selects (shift-click, marquee), locks and unlocks them (the demo's rule,
 * boardRules.ts), and shows collaborators' pointers and selections from awareness. A write the rules refuse (here or
 * on the relay) shows a notice, e.g. "Locked by Ada: not allowed"; a gesture on a shape locked by someone else does
 * not start.
 */
export class Whiteboard {
  readonly element: HTMLElement
  readonly #model: BoardModel
  readonly #awareness: Awareness
  readonly #stage: HTMLElement
  readonly #notice: HTMLElement
  readonly #svg: SVGSVGElement
  readonly #layers = { shapes: svg('g'), remote: svg('g'), overlay: svg('g') }
  readonly #toolbar: ReturnType<typeof createToolbar>
  #tool: Tool = 'select'
  #color: string = PALETTE[0]
  #selection = new Set<string>()
  #drag: Drag | null = null
  #sticky: StickyEditor | null = null
  #cursor: Point | null = null
  #publishQueued = false
  /** The last press on a shape, to detect a double press (the DOM's dblclick cannot: shapes re-render). */
  #lastPress: { id: string; at: number } | null = null
  readonly #offs: Array<() => void> = []

  constructor(parent: HTMLElement, model: BoardModel, awareness: Awareness) {
    this.#model = model
    this.#awareness = awareness
    this.#toolbar = createToolbar({
      tool: (t) => this.#setTool(t),
      color: (c) => this.#recolour(c),
      remove: () => this.#removeSelected(),
      lock: () => this.#toggleLock(),
    })
    this.#svg = svg('svg', { class: 'board', 'data-testid': 'board' }, [
      this.#layers.shapes,
      this.#layers.remote,
      this.#layers.overlay,
    ])
    this.#stage = Object.assign(document.createElement('div'), { className: 'board-stage' })
    this.#stage.append(this.#svg)
    this.#notice = Object.assign(document.createElement('div'), { className: 'board-notice', hidden: true })
    this.#notice.dataset['testid'] = 'board-notice'
    this.#notice.setAttribute('role', 'status')
    this.element = Object.assign(document.createElement('div'), { className: 'whiteboard' })
    this.element.append(this.#toolbar.element, this.#notice, this.#stage)
    parent.append(this.element)
    this.#listen('pointerdown', (e) => this.#onDown(e))
    this.#listen('pointermove', (e) => this.#onMove(e))
    this.#listen('pointerup', (e) => this.#onUp(e))
    this.#listen('pointerleave', () => this.#publish(null))
    const onKey = (e: KeyboardEvent) => this.#onKey(e)
    document.addEventListener('keydown', onKey)
    this.#offs.push(() => document.removeEventListener('keydown', onKey))
    this.#offs.push(model.observe(() => this.#render()))
    this.#offs.push(model.onRefused((notice) => this.#showNotice(notice)))
    const onAwareness = () => this.#renderRemote()
    awareness.on('change', onAwareness)
    this.#offs.push(() => awareness.off('change', onAwareness))
    this.#toolbar.show(this.#tool, this.#color)
    this.#render()
  }

  /** Ids of the selected shapes. */
  get selection(): string[] {
    return [...this.#selection]
  }

  /** The notice shown (a refused write), or `null`. */
  get notice(): string | null {
    return this.#notice.hidden ? null : this.#notice.textContent
  }

  /** Replaces the selection. */
  select(ids: Iterable<string>): void {
    this.#selection = new Set(ids)
    this.#render()
    this.#publish(this.#cursor)
  }

  /** Stops listening and removes the board from the page. */
  destroy(): void {
    this.#sticky?.close()
    for (const off of this.#offs.splice(0)) off()
    this.#awareness.setLocalStateField('board', null)
    this.element.remove()
  }

  #listen<K extends keyof SVGElementEventMap>(type: K, fn: (e: SVGElementEventMap[K]) => void): void {
    this.#svg.addEventListener(type, fn)
  }

  #setTool(tool: Tool): void {
    this.#tool = tool
    this.#toolbar.show(tool, this.#color)
  }

  #recolour(color: string): void {
    this.#color = color
    this.#toolbar.show(this.#tool, color)
    if (this.#selection.size > 0) this.#model.recolour([...this.#selection], color)
  }

  #removeSelected(): void {
    if (this.#selection.size === 0) return
    if (this.#model.remove([...this.#selection])) this.select([])
  }

  /** Unlocks the selection if this user locked all of it, else locks it (refused if someone else locked one). */
  #toggleLock(): void {
    const ids = [...this.#selection]
    if (ids.length === 0) return
    this.#model.setLocked(ids, this.#lockAction() !== 'unlock')
  }

  #lockAction(): LockAction {
    const shapes = [...this.#selection].map((id) => this.#model.get(id)).filter((s) => s !== undefined)
    if (shapes.length === 0) return null
    return shapes.every((s) => s.lockedBy === this.#model.subject) ? 'unlock' : 'lock'
  }

  /** Whether the rules allow changing `ids`; if not, says why (the gesture does not start). */
  #mayChange(ids: Iterable<string>): boolean {
    const refused = this.#model.refusal(ids, {})
    if (refused !== null) this.#model.tellRefused(refused)
    return refused === null
  }

  #showNotice(text: string): void {
    this.#notice.textContent = text
    this.#notice.hidden = false
  }

  #point(e: MouseEvent): Point {
    const r = this.#svg.getBoundingClientRect()
    return { x: Math.round(e.clientX - r.left), y: Math.round(e.clientY - r.top) }
  }

  #onDown(e: PointerEvent): void {
    if (e.button !== 0) return
    const p = this.#point(e)
    this.#notice.hidden = true
    this.#svg.setPointerCapture(e.pointerId)
    const target = e.target instanceof Element ? e.target : null
    if (this.#tool === 'pen') this.#drag = { kind: 'pen', points: [p.x, p.y] }
    else if (this.#tool !== 'select') this.#drag = { kind: 'create', tool: this.#tool, from: p, to: p }
    else if (target?.getAttribute('data-handle')) {
      const id = target.getAttribute('data-handle') ?? ''
      const shape = this.#model.get(id)
      if (shape && this.#mayChange([id])) this.#drag = { kind: 'resize', id, from: p, box: shape }
    } else {
      const id = target?.closest('[data-id]')?.getAttribute('data-id')
      if (id) {
        const now = performance.now()
        const double = this.#lastPress?.id === id && now - this.#lastPress.at < 500
        this.#lastPress = { id, at: now }
        if (double && this.#model.get(id)?.kind === 'sticky') {
          this.#drag = { kind: 'edit', id } // opened on release: the press itself moves the focus
          return
        }
        if (e.shiftKey) {
          const next = new Set(this.#selection)
          if (!next.delete(id)) next.add(id)
          this.select(next)
        } else if (!this.#selection.has(id)) this.select([id])
        if (!this.#mayChange(this.#selection)) return
        const origins = new Map<string, Point>()
        for (const sid of this.#selection) {
          const s = this.#model.get(sid)
          if (s) origins.set(sid, { x: s.x, y: s.y })
        }
        this.#drag = { kind: 'move', from: p, origins }
      } else {
        this.#drag = {
          kind: 'marquee',
          from: p,
          to: p,
          base: e.shiftKey ? new Set(this.#selection) : new Set(),
        }
        if (!e.shiftKey) this.select([])
      }
    }
  }

  #onMove(e: PointerEvent): void {
    const p = this.#point(e)
    this.#publish(p)
    const d = this.#drag
    if (!d) return
    if (d.kind === 'pen') d.points.push(p.x, p.y)
    else if (d.kind === 'create' || d.kind === 'marquee') d.to = p
    else if (d.kind === 'move') {
      const dx = p.x - d.from.x
      const dy = p.y - d.from.y
      const boxes = new Map([...d.origins].map(([id, o]) => [id, { x: o.x + dx, y: o.y + dy }]))
      this.#model.setBoxes(boxes)
      return
    } else if (d.kind === 'resize') {
      const w = Math.max(MIN, d.box.w + p.x - d.from.x)
      const h = Math.max(MIN, d.box.h + p.y - d.from.y)
      this.#model.setBoxes(new Map([[d.id, { w, h }]]))
      return
    }
    this.#renderOverlay()
  }

  #onUp(e: PointerEvent): void {
    const d = this.#drag
    this.#drag = null
    if (this.#svg.hasPointerCapture(e.pointerId)) this.#svg.releasePointerCapture(e.pointerId)
    if (!d) return
    if (d.kind === 'edit') this.#editSticky(d.id)
    else if (d.kind === 'create') {
      const box = boxOf(d.from, d.to)
      const size = box.w < MIN || box.h < MIN ? { ...d.from, ...DEFAULT_SIZE[d.tool] } : box
      this.#create({ kind: d.tool, ...size, color: this.#color }, d.tool === 'sticky')
    } else if (d.kind === 'pen' && d.points.length >= 4) {
      const { box, points } = strokeFrom(d.points)
      this.#create(
        { kind: 'stroke', ...box, color: this.#color === '#ffffff' ? '#263238' : this.#color, points },
        false,
      )
    } else if (d.kind === 'marquee') {
      const area = boxOf(d.from, d.to)
      const hit = this.#model
        .shapes()
        .filter((s) => intersects(area, s))
        .map((s) => s.id)
      this.select(new Set([...d.base, ...hit]))
    }
    this.#renderOverlay()
  }

  #create(shape: NewShape, edit: boolean): void {
    const id = this.#model.insert(shape)
    this.#setTool('select')
    if (id === null) return
    this.select([id])
    if (edit) this.#editSticky(id)
  }

  #editSticky(id: string): void {
    const shape = this.#model.get(id)
    if (!shape) return
    this.#sticky?.close()
    const readOnly = !this.#model.writable || !this.#mayChange([id])
    this.#sticky = new StickyEditor(this.#stage, id, shape.text, shape, readOnly, () => {
      this.#sticky = null
    })
  }

  #onKey(e: KeyboardEvent): void {
    if (e.key !== 'Delete' && e.key !== 'Backspace') return
    const t = e.target instanceof HTMLElement ? e.target : null
    if (t?.closest('input, textarea, [contenteditable="true"]')) return
    this.#removeSelected()
  }

  /** Publishes pointer and selection in awareness, at most once per frame. */
  #publish(cursor: Point | null): void {
    this.#cursor = cursor
    if (this.#publishQueued) return
    this.#publishQueued = true
    requestAnimationFrame(() => {
      this.#publishQueued = false
      const state: BoardPresence = { cursor: this.#cursor, selection: [...this.#selection] }
      this.#awareness.setLocalStateField('board', state)
    })
  }

  #render(): void {
    const shapes = this.#model.shapes()
    const ids = new Set(shapes.map((s) => s.id))
    for (const id of this.#selection) if (!ids.has(id)) this.#selection.delete(id)
    if (this.#sticky && !ids.has(this.#sticky.id)) this.#sticky.close()
    this.#layers.shapes.replaceChildren(...shapes.map(renderShape))
    this.#toolbar.showLock(this.#lockAction())
    this.#renderOverlay()
    this.#renderRemote()
  }

  #renderOverlay(): void {
    const out: Element[] = []
    const single = this.#selection.size === 1
    for (const id of this.#selection) {
      const s = this.#model.get(id)
      if (s) out.push(renderSelection(s, '#1e88e5', 'local', single))
    }
    const d = this.#drag
    if (d?.kind === 'create' || d?.kind === 'marquee') {
      const b = boxOf(d.from, d.to)
      out.push(svg('rect', { x: b.x, y: b.y, width: b.w, height: b.h, class: 'preview' }))
    } else if (d?.kind === 'pen') {
      out.push(svg('polyline', { points: d.points.join(' '), stroke: this.#color, class: 'stroke' }))
    }
    this.#layers.overlay.replaceChildren(...out)
  }

  #renderRemote(): void {
    this.#layers.remote.replaceChildren(...renderPresence(this.#awareness, (id) => this.#model.get(id)))
  }
}

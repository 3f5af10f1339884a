/** The whiteboard's tools. */
export type Tool = 'select' | 'rect' | 'ellipse' | 'sticky' | 'pen'

/** Colours offered for new shapes and recolouring. */
export const PALETTE = ['#ffd54f', '#ef9a9a', '#90caf9', '#a5d6a7', '#ce93d8', '#ffffff', '#263238'] as const

const TOOLS: ReadonlyArray<readonly [Tool, string]> = [
  ['select', 'Select'],
  ['rect', 'Rectangle'],
  ['ellipse', 'Ellipse'],
  ['sticky', 'Sticky note'],
  ['pen', 'Pen'],
]

/** What the toolbar tells the board. */
export interface ToolbarHandlers {
  tool(tool: Tool): void
  color(color: string): void
  remove(): void
  /** Lock or unlock the selected shapes (the demo's rule, boardRules.ts). */
  lock(): void
}

/** What the lock button offers: lock the selection, unlock it, or nothing (no selection). */
export type LockAction = 'lock' | 'unlock' | null

/** The toolbar element, and a function that shows the current tool and colour. */
export const createToolbar = (
  handlers: ToolbarHandlers,
): { element: HTMLElement; show(tool: Tool, color: string): void; showLock(action: LockAction): void } => {
  const bar = document.createElement('div')
  bar.className = 'board-toolbar'
  const buttons = TOOLS.map(([tool, label]) => {
    const b = document.createElement('button')
    b.textContent = label
    b.dataset['testid'] = `tool-${tool}`
    b.addEventListener('click', () => handlers.tool(tool))
    return [tool, b] as const
  })
  const swatches = PALETTE.map((color) => {
    const b = document.createElement('button')
    b.className = 'swatch'
    b.title = `Colour ${color}`
    b.style.background = color
    b.dataset['testid'] = `color-${color.slice(1)}`
    b.addEventListener('click', () => handlers.color(color))
    return [color, b] as const
  })
  const del = document.createElement('button')
  del.textContent = 'Delete'
  del.dataset['testid'] = 'delete-shapes'
  del.addEventListener('click', () => handlers.remove())
  const lock = document.createElement('button')
  lock.dataset['testid'] = 'lock-shape'
  lock.addEventListener('click', () => handlers.lock())
  bar.append(...buttons.map(([, b]) => b), spacer(), ...swatches.map(([, b]) => b), spacer(), lock, del)
  return {
    element: bar,
    show: (tool, color) => {
      for (const [t, b] of buttons) b.classList.toggle('active', t === tool)
      for (const [c, b] of swatches) b.classList.toggle('active', c === color)
    },
    showLock: (action) => {
      lock.textContent = action === 'unlock' ? 'Unlock' : 'Lock'
      lock.disabled = action === null
      lock.title =
        action === 'unlock'
          ? 'Unlock the selected shapes'
          : 'Lock the selected shapes: only you may move, edit or delete them'
    },
  }
}

const spacer = (): HTMLElement => Object.assign(document.createElement('span'), { className: 'spacer' })

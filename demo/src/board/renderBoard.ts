import type { Box, ShapeView } from './BoardModel.js'

const SVG = 'http://www.w3.org/2000/svg'

/** Creates an SVG element with attributes. */
export const svg = <K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Readonly<Record<string, string | number>> = {},
  children: readonly Element[] = [],
): SVGElementTagNameMap[K] => {
  const el = document.createElementNS(SVG, tag)
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v))
  for (const c of children) el.append(c)
  return el
}

/** A stroke's natural size: the extent of its points (they start at 0,0). */
const naturalSize = (points: readonly number[]): { w: number; h: number } => {
  let w = 1
  let h = 1
  for (let i = 0; i + 1 < points.length; i += 2) {
    w = Math.max(w, points[i] ?? 0)
    h = Math.max(h, points[i + 1] ?? 0)
  }
  return { w, h }
}

const pathOf = (points: readonly number[]): string => {
  const parts: string[] = []
  for (let i = 0; i + 1 < points.length; i += 2)
    parts.push(`${i === 0 ? 'M' : 'L'}${points[i]} ${points[i + 1]}`)
  return parts.join(' ')
}

/**
 * Turns absolute pointer positions into a stroke: its box and its points relative to the box's corner.
 */
export const strokeFrom = (absolute: readonly number[]): { box: Box; points: number[] } => {
  let minX = Infinity
  let minY = Infinity
  let maxX = -Infinity
  let maxY = -Infinity
  for (let i = 0; i + 1 < absolute.length; i += 2) {
    const x = absolute[i] ?? 0
    const y = absolute[i + 1] ?? 0
    minX = Math.min(minX, x)
    minY = Math.min(minY, y)
    maxX = Math.max(maxX, x)
    maxY = Math.max(maxY, y)
  }
  const points = absolute.map((v, i) => Math.round((i % 2 === 0 ? v - minX : v - minY) * 10) / 10)
  return { box: { x: minX, y: minY, w: Math.max(maxX - minX, 1), h: Math.max(maxY - minY, 1) }, points }
}

/** The SVG of one shape: a group `data-id` holding its drawing. */
export const renderShape = (shape: ShapeView): SVGGElement => {
  const { x, y, w, h, color } = shape
  const g = svg('g', { 'data-id': shape.id, 'data-kind': shape.kind, class: 'shape' })
  switch (shape.kind) {
    case 'rect':
      g.append(svg('rect', { x, y, width: w, height: h, rx: 4, fill: color, class: 'outline' }))
      break
    case 'ellipse':
      g.append(
        svg('ellipse', { cx: x + w / 2, cy: y + h / 2, rx: w / 2, ry: h / 2, fill: color, class: 'outline' }),
      )
      break
    case 'sticky': {
      g.append(svg('rect', { x, y, width: w, height: h, fill: color, class: 'sticky' }))
      const fo = svg('foreignObject', { x, y, width: w, height: h })
      const div = document.createElement('div')
      div.className = 'sticky-text'
      div.textContent = shape.text.toString()
      fo.append(div)
      g.append(fo)
      break
    }
    case 'stroke': {
      const n = naturalSize(shape.points)
      const transform = `translate(${x} ${y}) scale(${w / n.w} ${h / n.h})`
      g.append(svg('rect', { x, y, width: w, height: h, fill: 'transparent' }))
      g.append(svg('path', { d: pathOf(shape.points), transform, stroke: color, class: 'stroke' }))
      break
    }
  }
  if (shape.lockedBy !== '') {
    g.setAttribute('data-locked', '')
    const badge = svg('text', { x: x + w - 4, y: y + 14, class: 'lock-badge', 'text-anchor': 'end' })
    badge.textContent = `\u{1F512} ${shape.lockedByName.slice(0, 32)}`
    g.append(badge)
  }
  return g
}

/**
 * The outline of a shape selected by `owner` (`"local"` or a collaborator's name); with `handle`, a resize handle
 * at its lower right corner.
 */
export const renderSelection = (
  shape: Box & { id: string },
  color: string,
  owner: string,
  handle: boolean,
): SVGGElement => {
  const pad = 4
  const g = svg('g', { class: 'selection', 'data-selected': shape.id, 'data-owner': owner })
  g.append(
    svg('rect', {
      x: shape.x - pad,
      y: shape.y - pad,
      width: shape.w + 2 * pad,
      height: shape.h + 2 * pad,
      stroke: color,
      class: 'selection-outline',
    }),
  )
  if (handle) {
    const s = 10
    g.append(
      svg('rect', {
        x: shape.x + shape.w + pad - s / 2,
        y: shape.y + shape.h + pad - s / 2,
        width: s,
        height: s,
        'data-handle': shape.id,
        class: 'handle',
      }),
    )
  }
  return g
}

/** A collaborator's pointer on the board: an arrow and their name, in their colour. */
export const renderCursor = (x: number, y: number, name: string, color: string): SVGGElement =>
  svg('g', { class: 'remote-cursor', transform: `translate(${x} ${y})` }, [
    svg('path', { d: 'M0 0 L0 16 L4.5 12 L8 19 L10 18 L6.8 11 L12 11 Z', fill: color, stroke: 'white' }),
    Object.assign(svg('text', { x: 14, y: 24, fill: color }), { textContent: name }),
  ])

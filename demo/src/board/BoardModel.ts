import type * as Y from 'yjs'
import type { TypedDoc } from '../schemaApi.js'
import type { ShapeKind, ShapeRowV1, ShapeRowV2, demoSchemaV1, demoSchemaV2 } from './boardSchema.js'

/** A shape as the whiteboard draws it, whatever the schema version. */
export interface ShapeView {
  readonly id: string
  readonly kind: ShapeKind
  readonly x: number
  readonly y: number
  readonly w: number
  readonly h: number
  readonly color: string
  /** The sticky note's live text. */
  readonly text: Y.Text
  /** A stroke's x,y pairs relative to (x, y), as drawn (scaled to w × h by the renderer). */
  readonly points: readonly number[]
}

/** A shape to create. */
export interface NewShape {
  readonly kind: ShapeKind
  readonly x: number
  readonly y: number
  readonly w: number
  readonly h: number
  readonly color: string
  readonly text?: string
  readonly points?: readonly number[]
}

/** Position and size. */
export interface Box {
  readonly x: number
  readonly y: number
  readonly w: number
  readonly h: number
}

/**
 * What the whiteboard needs from the document: typed reads, and writes that go through the schema (a refused
 * write, e.g. `upgrade-required`, writes nothing and returns false).
 */
export interface BoardModel {
  readonly writable: boolean
  shapes(): ShapeView[]
  get(id: string): ShapeView | undefined
  /** Creates a shape; its id, or null if the schema refused it. */
  insert(shape: NewShape): string | null
  /** Moves and resizes shapes in one transaction (one undo step, one update on the wire). */
  setBoxes(boxes: ReadonlyMap<string, Partial<Box>>): boolean
  recolour(ids: readonly string[], color: string): boolean
  remove(ids: readonly string[]): boolean
  /** Calls `listener` after every change of the shapes (local or remote). */
  observe(listener: () => void): () => void
}

interface VersionOps {
  readonly typed: { readonly writable: boolean; transact<T>(fn: () => T): T }
  list(): ShapeView[]
  get(id: string): ShapeView | undefined
  insert(shape: NewShape): string | null
  update(id: string, patch: Partial<Box> & { color?: string }): boolean
  remove(id: string): boolean
  observe(listener: () => void): () => void
}

const common = (ops: VersionOps): BoardModel => {
  const all = (ids: Iterable<string>, write: (id: string) => boolean): boolean =>
    ops.typed.transact(() => [...ids].map(write).every(Boolean))
  return {
    get writable() {
      return ops.typed.writable
    },
    shapes: ops.list,
    get: ops.get,
    insert: ops.insert,
    setBoxes: (boxes) => all(boxes.keys(), (id) => ops.update(id, boxes.get(id) ?? {})),
    recolour: (ids, color) => all(ids, (id) => ops.update(id, { color })),
    remove: (ids) => all(ids, ops.remove),
    observe: ops.observe,
  }
}

const geometry = (r: ShapeRowV1 | ShapeRowV2) => ({
  id: r.id,
  kind: r.kind,
  x: r.x,
  y: r.y,
  w: r.w,
  h: r.h,
  text: r.text,
  points: r.points,
})

/** The board over a v1 document (`color`). */
export const boardModelV1 = (typed: TypedDoc<typeof demoSchemaV1>): BoardModel => {
  const shapes = typed.root.shapes
  const view = (r: ShapeRowV1): ShapeView => ({ ...geometry(r), color: r.color })
  return common({
    typed,
    list: () => shapes.values().map(view),
    get: (id) => {
      const r = shapes.get(id)
      return r && view(r)
    },
    insert: ({ text, points, ...rest }) => {
      const res = shapes.insert({ ...rest, text: text ?? '', points: [...(points ?? [])] })
      return res.ok ? res.id : null
    },
    update: (id, patch) => shapes.update(id, patch).ok,
    remove: (id) => shapes.delete(id).ok,
    observe: (listener) => shapes.observe(() => listener()),
  })
}

/** The board over a v2 document (`fill`). */
export const boardModelV2 = (typed: TypedDoc<typeof demoSchemaV2>): BoardModel => {
  const shapes = typed.root.shapes
  const view = (r: ShapeRowV2): ShapeView => ({ ...geometry(r), color: r.fill })
  return common({
    typed,
    list: () => shapes.values().map(view),
    get: (id) => {
      const r = shapes.get(id)
      return r && view(r)
    },
    insert: ({ text, points, color, ...rest }) => {
      const res = shapes.insert({ ...rest, fill: color, text: text ?? '', points: [...(points ?? [])] })
      return res.ok ? res.id : null
    },
    update: (id, { color, ...box }) =>
      shapes.update(id, color === undefined ? box : { ...box, fill: color }).ok,
    remove: (id) => shapes.delete(id).ok,
    observe: (listener) => shapes.observe(() => listener()),
  })
}

import type * as Y from 'yjs'
import type { TypedDoc } from '../schemaApi.js'
import { loadUser } from '../identity.js'
import { checkShapeWrites, type ShapeWrite } from './boardRules.js'
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
  /** The subject of the user who locked the shape (boardRules.ts); `''`: unlocked. */
  readonly lockedBy: string
  /** Their name when they locked it. */
  readonly lockedByName: string
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

/** Who writes on this page: the subject of its token (the relay's rules see the same) and the name shown. */
export interface BoardWriter {
  readonly subject: string
  readonly name: string
}

/** The writer now (the name may change while the document is open). */
export type WriterSource = () => BoardWriter

/** This browser's saved demo user (identity.ts), as the writer; its id is the subject of its dev token. */
export const savedWriter: WriterSource = () => {
  const user = loadUser()
  return { subject: user.id, name: user.name }
}

/**
 * What the whiteboard needs from the document: typed reads, and writes that go through the schema and the demo's
 * rules (boardRules.ts). A refused write writes nothing and returns false; a write the rules refuse is also told to
 * the {@link BoardModel.onRefused} listeners, with the reason the relay would give.
 */
export interface BoardModel {
  readonly writable: boolean
  /** The writer's subject (a shape is locked by this page's user when its `lockedBy` is this). */
  readonly subject: string
  /**
   * Why the rules refuse writing `patch` to the shapes `ids` (`null`: deleting them), checked as the relay checks
   * it; `null` when they allow it. Tells nobody: the caller decides whether to say it.
   */
  refusal(ids: Iterable<string>, patch: Readonly<Record<string, unknown>> | null): string | null
  /** Locks the shapes for this page's user, or unlocks them; refused (false) for a shape someone else locked. */
  setLocked(ids: readonly string[], locked: boolean): boolean
  /**
   * Calls `listener` with a sentence for people whenever a write was refused under the rules: by this model before
   * writing, or by the relay (told through {@link BoardModel.tellRefused}). Returns an unsubscribe function.
   */
  onRefused(listener: (notice: string) => void): () => void
  /** Tells the {@link BoardModel.onRefused} listeners of a refusal found elsewhere (the relay's). */
  tellRefused(notice: string): void
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

type ShapePatch = Partial<Box> & { color?: string; lockedBy?: string; lockedByName?: string }

interface VersionOps {
  readonly typed: { readonly writable: boolean; readonly doc: Y.Doc; transact<T>(fn: () => T): T }
  list(): ShapeView[]
  get(id: string): ShapeView | undefined
  insert(shape: NewShape): string | null
  update(id: string, patch: ShapePatch): boolean
  remove(id: string): boolean
  observe(listener: () => void): () => void
}

const common = (ops: VersionOps, writer: WriterSource): BoardModel => {
  const listeners = new Set<(notice: string) => void>()
  const tell = (notice: string) => {
    for (const l of listeners) l(notice)
  }
  const refusal = (writes: readonly ShapeWrite[]): string | null => {
    const { subject } = writer()
    const verdict = checkShapeWrites(ops.typed.doc, { subject, claims: { sub: subject } }, writes)
    return verdict.ok ? null : verdict.reason
  }
  /** Checks the writes with the rules (telling a refusal), then makes them in one transaction. */
  const write = (writes: ReadonlyArray<ShapeWrite & { readonly run: () => boolean }>): boolean => {
    const refused = refusal(writes)
    if (refused !== null) {
      tell(refused)
      return false
    }
    return ops.typed.transact(() => writes.map((w) => w.run()).every(Boolean))
  }
  const updates = (ids: Iterable<string>, patchOf: (id: string) => ShapePatch) =>
    write(
      [...ids].map((id) => {
        const patch = patchOf(id)
        return { id, patch, run: () => ops.update(id, patch) }
      }),
    )
  return {
    get writable() {
      return ops.typed.writable
    },
    get subject() {
      return writer().subject
    },
    shapes: ops.list,
    get: ops.get,
    insert: ops.insert,
    refusal: (ids, patch) => refusal([...ids].map((id) => ({ id, patch }))),
    setLocked: (ids, locked) => {
      const { subject, name } = writer()
      return updates(ids, () =>
        locked ? { lockedBy: subject, lockedByName: name } : { lockedBy: '', lockedByName: '' },
      )
    },
    setBoxes: (boxes) => updates(boxes.keys(), (id) => boxes.get(id) ?? {}),
    recolour: (ids, color) => updates(ids, () => ({ color })),
    remove: (ids) => write(ids.map((id) => ({ id, patch: null, run: () => ops.remove(id) }))),
    observe: ops.observe,
    onRefused: (listener) => {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    tellRefused: tell,
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
  lockedBy: r.lockedBy,
  lockedByName: r.lockedByName,
})

/** The shapes table of either version, as {@link reads} uses it. */
interface ShapesTable<R> {
  values(): R[]
  get(id: string): R | undefined
  delete(id: string): { readonly ok: boolean }
  observe(listener: () => void): () => void
}

/** What both versions read, delete and observe alike, their rows seen through `view`. */
const reads = <R>(
  shapes: ShapesTable<R>,
  view: (r: R) => ShapeView,
): Pick<VersionOps, 'list' | 'get' | 'remove' | 'observe'> => ({
  list: () => shapes.values().map(view),
  get: (id) => {
    const r = shapes.get(id)
    return r && view(r)
  },
  remove: (id) => shapes.delete(id).ok,
  observe: (listener) => shapes.observe(() => listener()),
})

/** The board over a v1 document (`color`). */
export const boardModelV1 = (
  typed: TypedDoc<typeof demoSchemaV1>,
  writer: WriterSource = savedWriter,
): BoardModel => {
  const shapes = typed.root.shapes
  return common(
    {
      typed,
      ...reads(shapes, (r) => ({ ...geometry(r), color: r.color })),
      insert: ({ text, points, ...rest }) => {
        const res = shapes.insert({ ...rest, text: text ?? '', points: [...(points ?? [])] })
        return res.ok ? res.id : null
      },
      update: (id, patch) => shapes.update(id, patch).ok,
    },
    writer,
  )
}

/** The board over a v2 document (`fill`). */
export const boardModelV2 = (
  typed: TypedDoc<typeof demoSchemaV2>,
  writer: WriterSource = savedWriter,
): BoardModel => {
  const shapes = typed.root.shapes
  return common(
    {
      typed,
      ...reads(shapes, (r) => ({ ...geometry(r), color: r.fill })),
      insert: ({ text, points, color, ...rest }) => {
        const res = shapes.insert({ ...rest, fill: color, text: text ?? '', points: [...(points ?? [])] })
        return res.ok ? res.id : null
      },
      update: (id, { color, ...box }) =>
        shapes.update(id, color === undefined ? box : { ...box, fill: color }).ok,
    },
    writer,
  )
}

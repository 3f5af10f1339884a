import { defineSchema, renameField, s, type Row, type TypedDoc } from '../schemaApi.js'

/** The shape kinds of the whiteboard. */
export const SHAPE_KINDS = ['rect', 'ellipse', 'sticky', 'stroke'] as const

/**
 * Who locked a shape (the demo's rule, boardRules.ts): `lockedBy` is the locker's token subject (`''`: unlocked),
 * `lockedByName` their display name for the "Locked by <name>" notice. Optional with defaults, so shapes written
 * before locks existed read as unlocked and no migration (nor a schema version) is needed: older pages keep the
 * fields they do not know (docs/guides/schema.md, "Untrusted peers").
 */
const lockFields = {
  lockedBy: s.string().optional(''),
  lockedByName: s.string().optional(''),
}

/** Version 1 of a whiteboard shape: `color` is its fill (or its stroke colour for freehand strokes). */
const ShapeV1 = s.record({
  kind: s.enum(SHAPE_KINDS),
  x: s.number(),
  y: s.number(),
  w: s.number().optional(120),
  h: s.number().optional(80),
  color: s.string().optional('#ffd54f'),
  text: s.text(), // the sticky note's text
  points: s.list(s.number()), // a stroke's x,y pairs, relative to (x, y)
  ...lockFields,
})

/** Version 2 renames `color` to `fill` (a record step, so v1 writes arriving later are moved too). */
const ShapeV2 = s.record({
  kind: s.enum(SHAPE_KINDS),
  x: s.number(),
  y: s.number(),
  w: s.number().optional(120),
  h: s.number().optional(80),
  fill: s.string().optional('#ffd54f'),
  text: s.text(),
  points: s.list(s.number()),
  ...lockFields,
})

const root = {
  meta: s.record({ title: s.string().optional('Untitled') }),
  body: s.text(), // the editor's text (CodeMirror + y-codemirror.next)
}

/** The demo document, v1: a title, the editor's text and the whiteboard's shapes. */
export const demoSchemaV1 = defineSchema({
  name: 'weft-demo',
  version: 1,
  root: { ...root, shapes: s.collection(ShapeV1) },
})

/** The demo document, v2 (`?schema=2`): shapes' `color` became `fill`. */
export const demoSchemaV2 = defineSchema({
  name: 'weft-demo',
  version: 2,
  root: { ...root, shapes: s.collection(ShapeV2) },
  migrations: [{ id: 'weft-demo/2', records: { shapes: renameField('color', 'fill') } }],
})

/** A typed demo document of either version. */
export type DemoTypedDoc = TypedDoc<typeof demoSchemaV1> | TypedDoc<typeof demoSchemaV2>
/** A shape as v1 reads it. */
export type ShapeRowV1 = Row<typeof ShapeV1>
/** A shape as v2 reads it. */
export type ShapeRowV2 = Row<typeof ShapeV2>
/** A shape kind. */
export type ShapeKind = (typeof SHAPE_KINDS)[number]

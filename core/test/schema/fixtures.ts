/**
 * Shared fixtures of the schema tests: a whiteboard schema in two versions, and update exchange between docs.
 */
import * as Y from 'yjs'
import { addField, chainSteps, defineSchema, renameField, s } from '../../src/index.js'

const kinds = ['rect', 'ellipse', 'sticky', 'stroke'] as const

/** Version 1 of the whiteboard: shapes with a `color`. */
export const ShapeV1 = s.record({
  kind: s.enum(kinds),
  x: s.number(),
  y: s.number(),
  w: s.number().optional(100),
  h: s.number().optional(100),
  color: s.string(),
  label: s.text(),
  points: s.list(s.number()),
})

const Meta = s.record({
  title: s.string().optional('Untitled'),
  budget: s.number().keepConflicts().optional(0),
  notes: s.text(),
})

/** The whiteboard app, version 1. */
export const boardV1 = defineSchema({
  name: 'whiteboard',
  version: 1,
  root: { shapes: s.collection(ShapeV1), meta: Meta },
})

/** Version 2: `color` renamed to `fill`, a required `rotation`, layers (a default one seeded), shapes on a layer. */
export const ShapeV2 = s.record({
  kind: s.enum(kinds),
  x: s.number(),
  y: s.number(),
  w: s.number().optional(100),
  h: s.number().optional(100),
  fill: s.string(),
  rotation: s.number(),
  layer: s.ref('layers').optional('default'),
  label: s.text(),
  points: s.list(s.number()),
})

/** The whiteboard app, version 2. */
export const boardV2 = defineSchema({
  name: 'whiteboard',
  version: 2,
  root: {
    shapes: s.collection(ShapeV2),
    layers: s.collection({ name: s.string(), visible: s.boolean().optional(true) }),
    meta: Meta,
  },
  migrations: [
    {
      id: 'whiteboard/2',
      description: 'color -> fill, rotation 0, a default layer',
      records: { shapes: chainSteps(renameField('color', 'fill'), addField('rotation', 0)) },
      run: (ctx) => ctx.insert('layers', 'default', { name: 'Default' }),
    },
  ],
})

/** Sends what `to` lacks from `from` (one direction). */
export const push = (from: Y.Doc, to: Y.Doc): void => {
  Y.applyUpdate(to, Y.encodeStateAsUpdate(from, Y.encodeStateVector(to)), 'remote')
}

/** Exchanges updates between all docs until none changes (reactions such as migrations create new updates). */
export const syncAll = (docs: readonly Y.Doc[]): void => {
  for (let round = 0; round < 20; round++) {
    const before = docs.map((d) => Y.encodeStateVector(d).join())
    for (const a of docs) for (const b of docs) if (a !== b) push(a, b)
    if (docs.every((d, i) => Y.encodeStateVector(d).join() === before[i])) return
  }
  throw new Error('syncAll: documents keep changing')
}

const canonical = (v: unknown): unknown =>
  Array.isArray(v)
    ? v.map(canonical)
    : typeof v === 'object' && v !== null
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
        )
      : v

/** Every top-level type's content as JSON with sorted keys, for comparing documents. */
export const contentOf = (doc: Y.Doc): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const name of [...doc.share.keys()].sort()) {
    const t = doc.share.get(name)
    // Top-level types are untyped until first used: read untyped ones as maps (their entries) or text.
    const json: unknown =
      t instanceof Y.Map || t instanceof Y.Array || t instanceof Y.Text || t instanceof Y.XmlFragment
        ? t.toJSON()
        : (t?._map.size ?? 0) > 0
          ? doc.getMap(name).toJSON()
          : doc.getText(name).toString()
    out[name] = canonical(json)
  }
  return out
}

/** A fresh doc with a fixed clientID (deterministic conflict winners). */
export const newDoc = (clientID: number): Y.Doc => {
  const doc = new Y.Doc()
  doc.clientID = clientID
  return doc
}

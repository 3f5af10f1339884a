/**
 * The typed schema layer against raw Yjs on the same operations, and the cost of opening (migrating, logging
 * conflicts, validating) a 10,000-record document against a raw Yjs load of the same bytes.
 */
import * as Y from 'yjs'
import { defineSchema, openTyped, s } from '../core/src/index.js'
import { timePair, type Row } from './lib.js'

const N = 10_000
const Shape = s.record({
  kind: s.enum(['rect', 'ellipse', 'sticky', 'stroke']),
  x: s.number(),
  y: s.number(),
  w: s.number(),
  h: s.number(),
  fill: s.string().optional('#ffd54f'),
  rotation: s.number().optional(0),
})
const board = defineSchema({ name: 'bench-board', version: 1, root: { shapes: s.collection(Shape) } })
const fields = ['kind', 'x', 'y', 'w', 'h', 'fill', 'rotation'] as const
const ids = Array.from({ length: N }, (_, i) => `shape-${i}`)
const input = (i: number) => ({
  kind: 'rect' as const,
  x: i,
  y: i * 2,
  w: 100,
  h: 50,
  fill: '#ff0000',
  rotation: 0,
})

const filledDoc = (): Y.Doc => {
  const doc = new Y.Doc()
  const typed = openTyped(doc, board)
  typed.transact(() => ids.forEach((id, i) => typed.root.shapes.insert(input(i), { id })))
  return doc
}

export default async (): Promise<readonly Row[]> => {
  const rows: Row[] = []
  const row = (metric: string, a: number, b: number, target?: number): void => {
    rows.push({
      bench: 'schema',
      metric,
      value: a,
      baseline: b,
      baselineName: 'raw Yjs',
      unit: 'ms',
      ...(target ? { target } : {}),
    })
  }

  // reads: every record as an object, collected in an array (what `values()` returns)
  {
    const doc = filledDoc()
    const typed = openTyped(doc, board)
    const raw = doc.getMap<Y.Map<unknown>>('shapes')
    let sink = 0
    const r = await timePair(
      () => {
        for (const shape of typed.root.shapes.values()) sink += shape.x
      },
      () => {
        const out: Array<Record<string, unknown>> = []
        for (const [id, m] of raw.entries()) {
          const o: Record<string, unknown> = { id }
          for (const f of fields) o[f] = m.get(f)
          out.push(o)
        }
        for (const o of out) sink += o.x as number
      },
      25,
    )
    row(`read ${N} records into an array of objects`, r.a.medianMs, r.b.medianMs, 1.2)
    const f = await timePair(
      () => {
        for (const id of ids) sink += typed.root.shapes.record(id)?.get('x') ?? 0
      },
      () => {
        for (const id of ids) sink += (raw.get(id)?.get('x') as number | undefined) ?? 0
      },
      25,
    )
    row(`read one field of ${N} records`, f.a.medianMs, f.b.medianMs, 1.2)
    if (sink === 42) console.log(sink)
  }

  // writes: two fields of every record, one transaction
  {
    const docA = filledDoc()
    const docB = filledDoc()
    const typed = openTyped(docA, board)
    const raw = docB.getMap<Y.Map<unknown>>('shapes')
    let k = 0
    const r = await timePair(
      () => {
        k++
        typed.transact(() => {
          for (const id of ids) typed.root.shapes.update(id, { x: k, y: k })
        })
      },
      () => {
        docB.transact(() => {
          for (const id of ids) {
            const m = raw.get(id)
            m?.set('x', k)
            m?.set('y', k)
          }
        })
      },
      15,
    )
    row(`update 2 fields of ${N} records`, r.a.medianMs, r.b.medianMs, 1.2)
  }

  // inserts
  {
    const r = await timePair(
      () => {
        const doc = new Y.Doc()
        const typed = openTyped(doc, board)
        typed.transact(() => ids.forEach((id, i) => typed.root.shapes.insert(input(i), { id })))
      },
      () => {
        const doc = new Y.Doc()
        const shapes = doc.getMap<Y.Map<unknown>>('shapes')
        doc.transact(() =>
          ids.forEach((id, i) => {
            const m = new Y.Map<unknown>()
            for (const [key, value] of Object.entries(input(i))) m.set(key, value)
            shapes.set(id, m)
          }),
        )
      },
      11,
    )
    row(`insert ${N} records`, r.a.medianMs, r.b.medianMs, 1.2)
  }

  // open + validate a 10,000-record document
  {
    const update = Y.encodeStateAsUpdate(filledDoc())
    const r = await timePair(
      () => {
        const doc = new Y.Doc()
        Y.applyUpdate(doc, update)
        const typed = openTyped(doc, board)
        if (!typed.writable) throw new Error('unexpected')
      },
      () => {
        const doc = new Y.Doc()
        Y.applyUpdate(doc, update)
        doc.getMap('shapes')
      },
      11,
    )
    row(`load + open and validate ${N} records (vs load)`, r.a.medianMs, r.b.medianMs)
  }
  return rows
}

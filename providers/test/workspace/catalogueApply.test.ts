import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { applyStoredDoc, docId, type StoredDoc } from '@weft/core'
import { MemoryDocStore } from '@weft/core/testing'
import { openWorkspace, type Workspace } from '../../src/index.js'
import { CatalogueApply } from '../../src/workspace/CatalogueApply.js'
import { UpdateSlicer } from '../../src/workspace/sliceUpdate.js'

/** What a document holds, compared across documents (map keys sorted: their order is the order of integration). */
const stateOf = (doc: Y.Doc) => {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sorted)
      : v !== null && typeof v === 'object' && !(v instanceof Uint8Array)
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
          )
        : v
  return {
    map: sorted(doc.getMap('m').toJSON()),
    text: doc.getText('t').toDelta() as unknown,
    array: doc.getArray('a').toJSON(),
    xml: doc.getXmlFragment('x').toString(),
    sv: [...Y.decodeStateVector(Y.encodeStateVector(doc))].sort((a, b) => a[0] - b[0]),
    deleted: Y.encodeStateAsUpdate(doc, Y.encodeStateVector(doc)),
  }
}

type Op =
  | { kind: 'set'; who: number; key: number; value: string }
  | { kind: 'nest'; who: number; key: number }
  | { kind: 'insert'; who: number; at: number; text: string }
  | { kind: 'remove'; who: number; at: number; n: number }
  | { kind: 'format'; who: number; at: number }
  | { kind: 'push'; who: number }
  | { kind: 'xml'; who: number }
  | { kind: 'sync'; from: number; to: number }

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), who: fc.nat(2), key: fc.nat(8), value: fc.string() }),
  fc.record({ kind: fc.constant('nest' as const), who: fc.nat(2), key: fc.nat(8) }),
  fc.record({ kind: fc.constant('insert' as const), who: fc.nat(2), at: fc.nat(), text: fc.string() }),
  fc.record({ kind: fc.constant('remove' as const), who: fc.nat(2), at: fc.nat(), n: fc.nat(4) }),
  fc.record({ kind: fc.constant('format' as const), who: fc.nat(2), at: fc.nat() }),
  fc.record({ kind: fc.constant('push' as const), who: fc.nat(2) }),
  fc.record({ kind: fc.constant('xml' as const), who: fc.nat(2) }),
  fc.record({ kind: fc.constant('sync' as const), from: fc.nat(2), to: fc.nat(2) }),
)

/** Three replicas doing `ops` (maps, nested maps, text with deletions and formats, arrays, XML), then `docs[0]`. */
const history = (ops: readonly Op[]) => {
  const docs = [new Y.Doc(), new Y.Doc(), new Y.Doc()]
  const stored: Uint8Array[] = [] // docs[0]'s updates, as its store appends them
  docs[0]!.on('update', (u: Uint8Array) => stored.push(u))
  for (const o of ops) {
    if (o.kind === 'sync') {
      Y.applyUpdate(docs[o.to]!, Y.encodeStateAsUpdate(docs[o.from]!))
      continue
    }
    const d = docs[o.who]!
    const t = d.getText('t')
    if (o.kind === 'set') d.getMap('m').set(`k${o.key}`, { v: o.value, n: o.key })
    else if (o.kind === 'nest') {
      const inner = new Y.Map<unknown>()
      inner.set('bytes', new Uint8Array([o.key, 1, 2]))
      d.getMap('m').set(`n${o.key}`, inner)
    } else if (o.kind === 'insert') t.insert(o.at % (t.length + 1), o.text)
    else if (o.kind === 'remove' && t.length > 0) {
      const at = o.at % t.length
      t.delete(at, Math.min(o.n, t.length - at))
    } else if (o.kind === 'format' && t.length > 0) t.format(o.at % t.length, 1, { bold: true })
    else if (o.kind === 'push') d.getArray('a').push([1, 'two', null, { three: [3] }])
    else if (o.kind === 'xml') d.getXmlFragment('x').insert(0, [new Y.XmlElement('p')])
  }
  for (const a of docs) for (const b of docs) Y.applyUpdate(b, Y.encodeStateAsUpdate(a))
  return { doc: docs[0]!, stored }
}

describe('the catalogue applied in slices (WS-CLIENT-8.4)', () => {
  it('WS-CLIENT-8.4: a stored update (V1 or V2; several writers, deletions, formats, binary, XML) cut into parts of any size and applied part by part, in any order, gives the state the whole update gives', () => {
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 60 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 50 }),
        fc.infiniteStream(fc.nat()),
        (ops, v2, partSize, budget, order) => {
          const { doc } = history(ops)
          const update = v2 ? Y.encodeStateAsUpdateV2(doc) : Y.encodeStateAsUpdate(doc)
          const slicer = new UpdateSlicer(update, v2, partSize)
          const parts = []
          while (!slicer.done) parts.push(...slicer.step(budget))
          for (const p of parts) expect(p.count).toBeLessThanOrEqual(partSize)
          // Shuffled: Yjs keeps a part whose references are missing pending until they arrive.
          const it = order[Symbol.iterator]()
          for (let i = parts.length - 1; i > 0; i--) {
            const j = (it.next().value as number) % (i + 1)
            ;[parts[i], parts[j]] = [parts[j]!, parts[i]!]
          }
          const copy = new Y.Doc()
          for (const p of parts) Y.applyUpdateV2(copy, p.update)
          expect(stateOf(copy)).toEqual(stateOf(doc))
        },
      ),
      { numRuns: 150 },
    )
  })

  it('WS-CLIENT-8.4: a stored document (snapshot and log) applied a slice at a time gives the state one applyStoredDoc gives, quietly, with the given origin', () => {
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 60 }),
        fc.nat(60),
        fc.integer({ min: 1, max: 30 }),
        (ops, cut, slice) => {
          const { doc, stored } = history(ops)
          // A snapshot of the first updates (V2) and the rest as the log (V1), as a store holds them.
          const at = Math.min(cut, stored.length)
          const snapshot =
            at > 0 ? Y.mergeUpdatesV2(stored.slice(0, at).map((u) => Y.convertUpdateFormatV1ToV2(u))) : null
          const log = stored.slice(at)
          const storedDoc: StoredDoc = {
            snapshot,
            updates: log,
            clock: log.length + 1,
            byteLength: 0,
            meta: {},
          }
          const whole = new Y.Doc()
          applyStoredDoc(whole, storedDoc, 'load')
          const sliced = new Y.Doc()
          const origins = new Set<unknown>()
          sliced.on('afterTransaction', (tr: Y.Transaction) => origins.add(tr.origin))
          let updates = 0
          const listener = () => updates++
          sliced.on('update', listener)
          const apply = new CatalogueApply(sliced, storedDoc, 'load', new Set([listener]), slice)
          while (!apply.step());
          // Checked before reading (reading text runs a transaction of its own).
          expect(updates).toBe(0) // quiet: its only update listener ignores the load
          expect([...origins].filter((o) => o !== 'load')).toEqual([])
          expect(stateOf(sliced)).toEqual(stateOf(whole))
          expect(stateOf(sliced)).toEqual(stateOf(doc))
        },
      ),
      { numRuns: 100 },
    )
  })
})

/** A store holding a catalogue of `n` records as one stored update (a device that synced it), and its list snapshot. */
const seededStore = async (n: number) => {
  let now = 1_000
  const source = await openWorkspace({
    id: 'team',
    store: new MemoryDocStore(),
    connect: false,
    now: () => now,
  })
  for (let i = 0; i < n; i++) {
    now += 1
    expect(source.create({ id: `d${i}`, title: `document ${i}` }).ok).toBe(true)
  }
  const state = Y.encodeStateAsUpdate(source.catalogue.doc)
  await source.destroy()
  const store = new MemoryDocStore()
  await store.append(docId('team/.catalogue'), state)
  // The first open applies it (no snapshot yet) and writes the list's snapshot.
  const first = await openWorkspace({ id: 'team', store, connect: false, now: () => now })
  await first.flushed()
  const expected = listOf(first)
  await first.destroy()
  return { store, expected, bytes: state.byteLength }
}

const listOf = (ws: Workspace) => ({
  entries: ws.list.entries.map((e) => ({ ...e })),
  deleted: ws.list.deleted.map((e) => ({ ...e })),
})

/** Runs a chain of macrotasks until the catalogue is loaded; returns how many ran before (each saw it not loaded). */
const tasksUntilLoaded = (ws: Workspace): Promise<number> =>
  new Promise((resolve) => {
    let n = 0
    const tick = () => {
      if (ws.catalogueLoaded) return resolve(n)
      n++
      setTimeout(tick, 0)
    }
    setTimeout(tick, 0)
  })

describe('the deferred catalogue apply yields (WS-CLIENT-8.4, issue #15)', () => {
  it('WS-CLIENT-8.4: a warm open applies a large catalogue a slice per task: timers scheduled meanwhile run before it ends; the list, the typed catalogue and the store end as after one apply', async () => {
    const { store, expected, bytes } = await seededStore(600)
    expect(bytes).toBeGreaterThan(16 * 1024) // cut into parts, not applied whole
    const clock = (await store.load(docId('team/.catalogue')))?.clock
    const ws = await openWorkspace({ id: 'team', store, connect: false })
    expect(ws.catalogueLoaded).toBe(false)
    expect(listOf(ws)).toEqual(expected)
    const changes: Array<readonly string[]> = []
    ws.list.on('change', ({ ids }) => changes.push(ids))
    // 600 records are ~5,400 structs: several slices of 1,000, then the comparison; a task runs between each two.
    expect(await tasksUntilLoaded(ws)).toBeGreaterThanOrEqual(5)
    expect(changes).toEqual([]) // the snapshot was current
    expect(listOf(ws)).toEqual(expected)
    expect(ws.typed.root.documents.get('d599')?.title).toBe('document 599')
    expect(ws.typed.root.documents.size).toBe(600)
    await ws.destroy()
    expect((await store.load(docId('team/.catalogue')))?.clock).toBe(clock) // nothing written (WS-CLIENT-8.1)
  })

  it('WS-CLIENT-8.4: a write between two slices applies the rest first and is checked against the whole catalogue and kept', async () => {
    const { store } = await seededStore(600)
    const ws = await openWorkspace({ id: 'team', store, connect: false })
    await new Promise((resolve) => setTimeout(resolve, 0)) // the first slice ran
    expect(ws.catalogueLoaded).toBe(false)
    expect(ws.update('d599', { title: 'renamed' }).ok).toBe(true)
    expect(ws.catalogueLoaded).toBe(true)
    const again = ws.create({ id: 'd598' })
    expect(again.ok ? 'created' : again.reason).toBe('exists')
    expect(ws.list.get('d599')?.title).toBe('renamed')
    await ws.flushed()
    await ws.destroy()
    const reopened = await openWorkspace({ id: 'team', store, connect: false })
    expect(reopened.list.get('d599')?.title).toBe('renamed')
    expect(reopened.list.entries).toHaveLength(600)
    await reopened.destroy()
  })

  it('WS-CLIENT-8.4: a document changed and closed between two slices records its size in the whole catalogue', async () => {
    const { store } = await seededStore(600)
    await store.append(docId('team/d599'), Y.encodeStateAsUpdate(new Y.Doc())) // stored here
    const ws = await openWorkspace({ id: 'team', store, connect: false, touchMs: 0 })
    const doc = await ws.open('d599')
    expect(ws.catalogueLoaded).toBe(false)
    doc.doc.getText('body').insert(0, 'hello')
    await ws.close('d599') // WS-CLIENT-1.4: recorded at close, in the whole catalogue (the rest applied first)
    expect(ws.list.get('d599')?.size).toBeGreaterThan(0)
    expect(ws.catalogueLoaded).toBe(true)
    await ws.flushed()
    await ws.destroy()
    const reopened = await openWorkspace({ id: 'team', store, connect: false })
    expect(reopened.list.get('d599')?.size).toBeGreaterThan(0)
    await reopened.destroy()
  })
})
